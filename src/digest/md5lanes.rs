//! MD5 (RFC 1321) of many independent messages at once, in SIMD lanes.
//!
//! MD5 is serial within one message, but the messages of a batch are independent: lane `l` of
//! each 32-bit vector holds the state of one message, and one pass of the compression function
//! advances every lane by one 64-byte block. The lanes run in lock-step; a lane whose message
//! (including its one or two padded final blocks) is done takes the next waiting message, so the
//! lanes stay full. Messages are taken longest first, so the lanes run dry at about the same time;
//! when one lane is left busy and nothing waits, its remaining blocks go through the md-5 crate's
//! single-message compression, continuing from the lane's state. (MD5 is bound by the latency of
//! its serial steps, so one pass over all lanes costs about what one block costs alone: a pass
//! with a few busy lanes still beats hashing them one by one.)
//!
//! The lane arithmetic is plain Rust over `[u32; N]` arrays, compiled inside functions with AVX2
//! (N = 8) or AVX-512 (N = 16) enabled, so LLVM turns each loop over the lanes into one vector
//! instruction; the CPU is asked at run time which of them it has. Elsewhere every message goes
//! through the md-5 crate.

use super::md5compress::compress;
use md5::Digest;
use std::cmp::Reverse;

/// MD5 digests of independent messages, computed several at a time in SIMD lanes where the CPU has
/// them. `result[i]` is the digest of `messages[i]`.
pub fn md5_many(messages: &[&[u8]]) -> Vec<[u8; 16]> {
    let split: Vec<Split<'_>> = messages.iter().map(|m| (&[][..], *m)).collect();
    md5_many_split(&split)
}

/// A message in two pieces: its first bytes and the rest, hashed as if they were one slice.
pub type Split<'a> = (&'a [u8], &'a [u8]);

/// [`md5_many`] of messages each given in two pieces (`result[i]` is the MD5 of `messages[i].0`
/// followed by `messages[i].1`), so a file whose header and data lie in different buffers is hashed
/// without being put together: only the header, and the data up to the next 64-byte block, are
/// copied.
pub fn md5_many_split(messages: &[Split<'_>]) -> Vec<[u8; 16]> {
    let backend = if messages.len() < 2 {
        Backend::Scalar
    } else {
        Backend::detect()
    };
    md5_many_on(messages, backend)
}

/// The MD5 digest of one message (the same function the lanes compute).
pub fn md5_one(message: &[u8]) -> [u8; 16] {
    md5::Md5::digest(message).into()
}

/// How a batch is hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// One message at a time, by the md-5 crate.
    Scalar,
    /// 8 lanes of 32 bits (AVX2).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// 16 lanes of 32 bits (AVX-512 F and VL).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Backend {
    /// The widest backend this CPU runs.
    fn detect() -> Backend {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl")
            {
                return Backend::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") {
                return Backend::Avx2;
            }
        }
        Backend::Scalar
    }

    /// Every backend this CPU runs, narrowest first (for tests that compare them).
    #[cfg(test)]
    fn available() -> Vec<Backend> {
        let widest = Backend::detect();
        let mut all = vec![Backend::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                all.push(Backend::Avx2);
            }
            if widest == Backend::Avx512 {
                all.push(Backend::Avx512);
            }
        }
        all
    }
}

/// [`md5_many`] on a given backend, which the caller has checked this CPU runs.
fn md5_many_on(messages: &[Split<'_>], backend: Backend) -> Vec<[u8; 16]> {
    let mut out = vec![[0u8; 16]; messages.len()];
    match backend {
        Backend::Scalar => {
            for (digest, (head, rest)) in out.iter_mut().zip(messages) {
                let mut h = md5::Md5::new();
                h.update(head);
                h.update(rest);
                *digest = h.finalize().into();
            }
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Backend::Avx2` comes from `Backend::detect` or `available`, which return it
        // only when `is_x86_feature_detected!("avx2")` holds.
        Backend::Avx2 => unsafe { lanes_avx2(messages, &mut out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Backend::Avx512` comes from `Backend::detect` (or `available`), which returns it
        // only when `is_x86_feature_detected!` holds for both "avx512f" and "avx512vl".
        Backend::Avx512 => unsafe { lanes_avx512(messages, &mut out) },
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lanes_avx2(messages: &[Split<'_>], out: &mut [[u8; 16]]) {
    run_lanes::<8>(messages, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
fn lanes_avx512(messages: &[Split<'_>], out: &mut [[u8; 16]]) {
    run_lanes::<16>(messages, out);
}

/// MD5's initial state (A, B, C, D).
const INITIAL: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// One lane's message: its first whole blocks where they had to be put together from its two pieces
/// (copied), its other whole 64-byte blocks (borrowed), then its padded tail (copied).
struct Lane<'a> {
    /// Index of the message in the batch; `None` while the lane is idle.
    index: Option<usize>,
    /// The first piece and the start of the second up to a block boundary, copied (the buffer is
    /// kept from message to message); only its first `lead_blocks` whole blocks are used.
    lead: Vec<u8>,
    lead_blocks: usize,
    /// The message's other whole blocks (a multiple of 64 bytes).
    body: &'a [u8],
    /// The blocks already compressed (lead, body, then tail).
    done: usize,
    /// The last partial block, the 0x80 byte, zeros and the bit length: one or two blocks.
    tail: [[u8; 64]; 2],
    /// How many of `tail` are used (1 or 2).
    tail_blocks: usize,
}

impl<'a> Lane<'a> {
    fn idle() -> Lane<'a> {
        Lane {
            index: None,
            lead: Vec::new(),
            lead_blocks: 0,
            body: &[],
            done: 0,
            tail: [[0; 64]; 2],
            tail_blocks: 0,
        }
    }

    /// Starts message `index`, padding its tail as RFC 1321 §3.1–3.2 say.
    fn start(&mut self, index: usize, (head, rest): Split<'a>) {
        let total = head.len() + rest.len();
        self.lead.clear();
        let mut rest = rest;
        if !head.is_empty() {
            let fill = ((64 - head.len() % 64) % 64).min(rest.len());
            self.lead.extend_from_slice(head);
            self.lead.extend_from_slice(&rest[..fill]);
            rest = &rest[fill..];
        }
        self.lead_blocks = self.lead.len() / 64;
        // The bytes after the last whole block: from the lead when the message ends inside it.
        let partial: &[u8] = if rest.is_empty() {
            self.body = &[];
            &self.lead[self.lead_blocks * 64..]
        } else {
            let (body, partial) = rest.split_at(rest.len() / 64 * 64);
            self.body = body;
            partial
        };
        self.index = Some(index);
        self.done = 0;
        self.tail = [[0; 64]; 2];
        let flat = self.tail.as_flattened_mut();
        flat[..partial.len()].copy_from_slice(partial);
        flat[partial.len()] = 0x80;
        self.tail_blocks = if partial.len() < 56 { 1 } else { 2 };
        let bits = (total as u64).wrapping_mul(8);
        flat[self.tail_blocks * 64 - 8..self.tail_blocks * 64].copy_from_slice(&bits.to_le_bytes());
    }

    /// The next block to compress, if the lane is busy.
    fn block(&self) -> Option<&[u8; 64]> {
        self.index?;
        self.block_at(self.done)
    }

    /// Block `k` of the padded message.
    fn block_at(&self, k: usize) -> Option<&[u8; 64]> {
        if k < self.lead_blocks {
            return self.lead.get(64 * k..64 * (k + 1))?.try_into().ok();
        }
        let k = k - self.lead_blocks;
        let whole = self.body.len() / 64;
        if k < whole {
            self.body.get(64 * k..64 * (k + 1))?.try_into().ok()
        } else {
            self.tail[..self.tail_blocks].get(k - whole)
        }
    }

    /// Counts one block done; true when that was the message's last.
    fn advance(&mut self) -> bool {
        self.done += 1;
        self.done == self.lead_blocks + self.body.len() / 64 + self.tail_blocks
    }

    /// The blocks not compressed yet.
    fn remaining(&self) -> impl Iterator<Item = &[u8; 64]> + '_ {
        (self.done..).map_while(|k| self.block_at(k))
    }
}

/// Hashes `messages` into `out` in `N` lanes. Inlined into the `#[target_feature]` callers so
/// that the lane loops are compiled with their vector instructions.
#[inline(always)]
fn run_lanes<const N: usize>(messages: &[Split<'_>], out: &mut [[u8; 16]]) {
    let mut order: Vec<usize> = (0..messages.len()).collect();
    order.sort_by_key(|&i| Reverse(messages[i].0.len() + messages[i].1.len()));
    let mut waiting = order.into_iter().peekable();
    let mut lanes: [Lane; N] = std::array::from_fn(|_| Lane::idle());
    let mut state = [[0u32; N]; 4];
    let mut words = [[0u32; N]; 16];
    for (l, lane) in lanes.iter_mut().enumerate() {
        if let Some(i) = waiting.next() {
            lane.start(i, messages[i]);
            set_lane(&mut state, l, INITIAL);
        }
    }
    loop {
        let busy = lanes.iter().filter(|lane| lane.index.is_some()).count();
        if busy == 0 {
            return;
        }
        if busy == 1 && waiting.peek().is_none() {
            finish_alone(&lanes, &state, out);
            return;
        }
        for (l, lane) in lanes.iter().enumerate() {
            if let Some(block) = lane.block() {
                for (w, word) in words.iter_mut().enumerate() {
                    let bytes = [
                        block[4 * w],
                        block[4 * w + 1],
                        block[4 * w + 2],
                        block[4 * w + 3],
                    ];
                    word[l] = u32::from_le_bytes(bytes);
                }
            }
        }
        compress(&mut state, &words);
        for (l, lane) in lanes.iter_mut().enumerate() {
            let Some(index) = lane.index else { continue };
            if lane.advance() {
                out[index] = digest_of(lane_state(&state, l));
                match waiting.next() {
                    Some(i) => {
                        lane.start(i, messages[i]);
                        set_lane(&mut state, l, INITIAL);
                    }
                    None => lane.index = None,
                }
            }
        }
    }
}

/// Finishes the busy lanes one at a time with the md-5 crate's compression, from their state.
fn finish_alone<const N: usize>(lanes: &[Lane; N], state: &[[u32; N]; 4], out: &mut [[u8; 16]]) {
    for (l, lane) in lanes.iter().enumerate() {
        let Some(index) = lane.index else { continue };
        let mut own = lane_state(state, l);
        for block in lane.remaining() {
            md5::block_api::compress(&mut own, std::slice::from_ref(block));
        }
        out[index] = digest_of(own);
    }
}

fn lane_state<const N: usize>(state: &[[u32; N]; 4], l: usize) -> [u32; 4] {
    [state[0][l], state[1][l], state[2][l], state[3][l]]
}

fn set_lane<const N: usize>(state: &mut [[u32; N]; 4], l: usize, value: [u32; 4]) {
    for (row, v) in state.iter_mut().zip(value) {
        row[l] = v;
    }
}

/// The digest is A, B, C, D, each little-endian (RFC 1321 §3.5).
fn digest_of(state: [u32; 4]) -> [u8; 16] {
    let mut digest = [0u8; 16];
    for (chunk, word) in digest.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    digest
}

#[cfg(test)]
#[path = "md5lanes_tests.rs"]
mod tests;
