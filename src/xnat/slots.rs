//! The limit on one server's requests in flight, served first come, first served.

use std::sync::{Condvar, Mutex};

/// A counting semaphore for requests in flight that serves requests in the order they asked: a
/// request waits for every one that asked before it. Reads sent at once (a session's item and file
/// listing) then go out together, ahead of reads that depend on them (its header), so the inventory's
/// `3 × sessions` reads take `3 × sessions / max_in_flight` rounds, not more.
pub(crate) struct Slots {
    queue: Mutex<Tickets>,
    cv: Condvar,
}

/// The state of [`Slots`].
struct Tickets {
    /// Slots not in use.
    free: usize,
    /// The ticket the next request to ask gets.
    next: u64,
    /// The ticket whose turn it is.
    serving: u64,
}

pub(crate) struct Permit<'a>(&'a Slots);

impl Slots {
    pub(crate) fn new(n: usize) -> Slots {
        Slots {
            queue: Mutex::new(Tickets {
                free: n.max(1),
                next: 0,
                serving: 0,
            }),
            cv: Condvar::new(),
        }
    }

    pub(crate) fn acquire(&self) -> Permit<'_> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let me = q.next;
        q.next += 1;
        while q.serving != me || q.free == 0 {
            q = self.cv.wait(q).unwrap_or_else(|p| p.into_inner());
        }
        q.free -= 1;
        q.serving += 1;
        drop(q);
        // The next ticket may go too when a slot is still free.
        self.cv.notify_all();
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.queue.lock().unwrap_or_else(|p| p.into_inner()).free += 1;
        self.0.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_serve_requests_in_the_order_they_asked() {
        let slots = Slots::new(1);
        let order = Mutex::new(Vec::new());
        let asked = |n: u64| {
            // Waits until `n` requests hold a ticket.
            while slots.queue.lock().unwrap().next < n {
                std::thread::yield_now();
            }
        };
        std::thread::scope(|scope| {
            let first = slots.acquire();
            // `first` holds ticket 0; b, c and d take tickets 1, 2 and 3, one after the other.
            for (n, name) in (2..).zip(["b", "c", "d"]) {
                let (slots, order) = (&slots, &order);
                scope.spawn(move || {
                    let _p = slots.acquire();
                    order.lock().unwrap().push(name);
                });
                asked(n);
            }
            drop(first);
        });
        assert_eq!(*order.lock().unwrap(), vec!["b", "c", "d"]);
        let q = slots.queue.lock().unwrap();
        assert_eq!((q.free, q.next, q.serving), (1, 4, 4));
    }
}
