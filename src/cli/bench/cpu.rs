//! Where the CPU of a throughput sample went: the client's process, the source emulator's and the
//! destination emulator's, read from Linux's `/proc` (nothing where it is missing). Where the
//! client and both emulators share the machine's cores and keep them all busy, a side that costs
//! more CPU in all moves fewer bytes per second; these lines show whether a figure is in that case.

use super::stats::{ratio, show_ratio, Samples};
use std::time::Duration;

/// The unit of the CPU times in `/proc/*/stat`: `USER_HZ`, 100 per second on every architecture
/// ferry is built for (x86-64 and 64-bit ARM).
const TICKS_PER_SECOND: f64 = 100.0;

/// Fields 14 and 15 of a `/proc/PID/stat` line (user and system time of the process, in ticks),
/// or 16 and 17 when `children` (those of its children that were waited for).
fn parse_stat(line: &str, children: bool) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may itself hold spaces and ')'.
    let after_name = &line[line.rfind(')')? + 1..];
    // `after_name` starts at field 3; field k is at index k - 3.
    let first = if children { 16 } else { 14 } - 3;
    let mut fields = after_name.split_whitespace().skip(first);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (user + system) as f64 / TICKS_PER_SECOND,
    ))
}

/// CPU time used so far by process `pid` (all its threads).
pub fn of_process(pid: u32) -> Option<Duration> {
    parse_stat(
        &std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?,
        false,
    )
}

/// CPU time of this process's children that have been waited for, so far.
pub fn of_waited_children() -> Option<Duration> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?, true)
}

/// `later - earlier`, when both were read.
pub fn since(earlier: Option<Duration>, later: Option<Duration>) -> Option<Duration> {
    later?.checked_sub(earlier?)
}

/// CPU seconds per sample of one side: client, source emulator, destination emulator and their sum;
/// and how many cores that sum kept busy over the client's run.
#[derive(Debug, Clone, Default)]
pub struct Split {
    parts: [Samples; 3],
    total: Samples,
    busy: Samples,
}

impl Split {
    /// Records one sample: the CPU of the client and of each emulator over a client's run that took
    /// `took`. A part that could not be read leaves the sample out (of the sum too).
    pub fn record(&mut self, took: Duration, [client, src, dst]: [Option<Duration>; 3]) {
        let (Some(c), Some(s), Some(d)) = (client, src, dst) else {
            return;
        };
        let secs = [c, s, d].map(|x| x.as_secs_f64());
        for (samples, v) in self.parts.iter_mut().zip(secs) {
            samples.push(Ok(v));
        }
        let total: f64 = secs.iter().sum();
        self.total.push(Ok(total));
        if !took.is_zero() {
            self.busy.push(Ok(total / took.as_secs_f64()));
        }
    }

    /// `client 0.09 + source 0.10 + destination 0.32 = 0.51, 1.72 cores busy`, medians.
    fn show(&self) -> Option<String> {
        let [c, s, d] = self.parts.each_ref().map(Samples::median);
        Some(format!(
            "client {:.2} + source {:.2} + destination {:.2} = {:.2}, {:.2} cores busy",
            c?,
            s?,
            d?,
            self.total.median()?,
            self.busy.median()?
        ))
    }
}

/// What the CPU lines say when a side failed or has no sample with every part read.
const NOT_MEASURED: &str =
    "   CPU seconds per run: not measured (a side failed, or this machine has no /proc)";

/// The lines of a throughput figure on CPU: the plain copy's (the side the limit came from) and
/// ferry's medians, and the ratio of their sums (plain / ferry, to set beside the throughput ratio
/// when both sides keep every one of the machine's `cores` busy). `failed`: a run of either side
/// failed (its throughput is then an error, and so are these lines).
pub fn lines(plain: &Split, ferry: &Split, cores: usize, failed: bool) -> Vec<String> {
    if failed {
        return vec![NOT_MEASURED.into()];
    }
    match (plain.show(), ferry.show()) {
        (Some(p), Some(f)) => vec![
            format!("   CPU seconds per run (medians): plain copy: {p}"),
            format!("                                  ferry:      {f}"),
            format!(
                "   plain / ferry, all CPU = {} ({cores} cores on this machine)",
                show_ratio(ratio(&plain.total, &ferry.total))
            ),
        ],
        _ => vec![NOT_MEASURED.into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_name_whatever_it_holds() {
        // A name with spaces and a ')' of its own; fields 14-17 are 150, 30, 7 and 3 ticks.
        let line = "4242 (ferry (x) y) S 1 2 3 4 5 6 7 8 9 10 150 30 7 3 20 0 1 0 99";
        assert_eq!(parse_stat(line, false), Some(Duration::from_millis(1800)));
        assert_eq!(parse_stat(line, true), Some(Duration::from_millis(100)));
        assert_eq!(parse_stat("4242 (cut) S 1 2", false), None);
        assert_eq!(parse_stat("no name at all", false), None);
    }

    #[test]
    fn a_process_that_works_shows_cpu_time_and_a_waited_child_adds_its_own() {
        if of_process(std::process::id()).is_none() {
            return; // no /proc: nothing to read, and the bench prints "not measured"
        }
        let before = of_process(std::process::id());
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let own = since(before, of_process(std::process::id())).unwrap();
        assert!(own >= Duration::from_millis(100), "{own:?}");

        let waited = of_waited_children();
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        let child = since(waited, of_waited_children()).unwrap();
        assert!(child >= Duration::from_millis(20), "{child:?}");
    }

    #[test]
    fn the_lines_give_each_part_the_sum_and_the_ratio_of_sums() {
        let mut plain = Split::default();
        let mut ferry = Split::default();
        let ms = |n| Some(Duration::from_millis(n));
        for _ in 0..3 {
            plain.record(Duration::from_millis(250), [ms(90), ms(100), ms(310)]);
            ferry.record(Duration::from_millis(325), [ms(190), ms(120), ms(340)]);
        }
        // A sample with a part unread is left out, not counted as zero.
        ferry.record(Duration::from_millis(1), [None, ms(1), ms(1)]);
        let l = lines(&plain, &ferry, 2, false);
        assert!(
            l[0].ends_with("client 0.09 + source 0.10 + destination 0.31 = 0.50, 2.00 cores busy"),
            "{l:?}"
        );
        assert!(
            l[1].ends_with("client 0.19 + source 0.12 + destination 0.34 = 0.65, 2.00 cores busy"),
            "{l:?}"
        );
        assert!(l[2].contains("all CPU = 0.769 (2 cores"), "{l:?}");
        let none = lines(&Split::default(), &ferry, 2, false);
        assert_eq!(none, [NOT_MEASURED]);
        // A side that failed in one run has no CPU figure, whatever its other runs measured.
        assert_eq!(lines(&plain, &ferry, 2, true), [NOT_MEASURED]);
    }
}
