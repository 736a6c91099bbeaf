//! Samples of one measured side and their summary: median, minimum and maximum, and the ratio of
//! two medians. Pure: no clock, no I/O.

/// What was measured on one side of a figure: values, or the error that stopped it.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: Vec<f64>,
    /// The first error, if a run failed (the side is then reported as an error, not as a figure).
    pub error: Option<String>,
}

impl Samples {
    /// Samples of the given values, all successes.
    #[cfg(test)]
    pub(crate) fn of(v: &[f64]) -> Samples {
        let mut s = Samples::default();
        for x in v {
            s.push(Ok(*x));
        }
        s
    }

    /// Records one run's value or error.
    pub fn push(&mut self, r: Result<f64, String>) {
        match r {
            Ok(v) => self.values.push(v),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    /// The values, sorted.
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median, if any run succeeded and none failed.
    pub fn median(&self) -> Option<f64> {
        if self.error.is_some() || self.values.is_empty() {
            return None;
        }
        let v = self.sorted();
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        })
    }

    /// Smallest and largest value.
    pub fn range(&self) -> Option<(f64, f64)> {
        let v = self.sorted();
        Some((*v.first()?, *v.last()?))
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// `median (min–max, n=N)` with `decimals`, or `error: …`.
    pub fn show(&self, decimals: usize, unit: &str) -> String {
        if let Some(e) = &self.error {
            return format!("error: {e}");
        }
        match (self.median(), self.range()) {
            (Some(m), Some((lo, hi))) => format!(
                "{m:.decimals$}{unit} ({lo:.decimals$}–{hi:.decimals$}, n={})",
                self.len()
            ),
            _ => "no samples".into(),
        }
    }
}

/// The ratio of two sides' medians, when both have one.
pub fn ratio(a: &Samples, b: &Samples) -> Option<f64> {
    Some(a.median()? / b.median()?).filter(|r| r.is_finite())
}

/// `0.934` or `n/a` (a side failed). Three decimals, so that a ratio just under a goal does not print
/// as the goal itself (0.797 is not 0.80).
pub fn show_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".into(), |r| format!("{r:.3}"))
}

/// Whether a ratio meets a goal, in words; `not measured` when there is no ratio.
pub fn verdict(r: Option<f64>, goal: f64, higher_is_better: bool) -> &'static str {
    match r {
        None => "not measured",
        Some(r) if (r >= goal) == higher_is_better || r == goal => "met",
        Some(_) => "NOT met",
    }
}

/// Runs every side `rounds` times, interleaved (A B C, A B C, …), so that drift of a busy machine
/// falls on every side alike. Each side returns its value or an error; a side that failed once is
/// not run again.
pub fn interleave(
    rounds: usize,
    sides: &mut [&mut dyn FnMut() -> Result<f64, String>],
) -> Vec<Samples> {
    let mut out = vec![Samples::default(); sides.len()];
    for _ in 0..rounds {
        for (side, samples) in sides.iter_mut().zip(out.iter_mut()) {
            if samples.error.is_none() {
                samples.push(side());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_ranges_and_ratios() {
        let a = Samples::of(&[3.0, 1.0, 2.0, 10.0, 4.0]);
        assert_eq!(a.median(), Some(3.0));
        assert_eq!(a.range(), Some((1.0, 10.0)));
        assert_eq!(Samples::of(&[1.0, 2.0]).median(), Some(1.5));
        assert_eq!(ratio(&a, &Samples::of(&[6.0])), Some(0.5));
        assert_eq!(a.show(1, " s"), "3.0 s (1.0–10.0, n=5)");
        assert_eq!(verdict(Some(0.79), 0.8, true), "NOT met");
        assert_eq!(verdict(Some(0.8), 0.8, true), "met");
        assert_eq!(verdict(Some(1.2), 1.0, false), "NOT met");
    }

    #[test]
    fn a_failed_side_is_an_error_not_a_figure() {
        let mut s = Samples::of(&[1.0]);
        s.push(Err("peer failed".into()));
        assert_eq!(s.median(), None);
        assert_eq!(s.show(1, ""), "error: peer failed");
        assert_eq!(ratio(&Samples::of(&[1.0]), &s), None);
    }

    #[test]
    fn sides_run_interleaved_and_a_failing_side_stops() {
        let order = std::cell::RefCell::new(Vec::new());
        let mut a = || {
            order.borrow_mut().push('a');
            Ok(1.0)
        };
        let mut b = || {
            order.borrow_mut().push('b');
            Err("no".to_string())
        };
        let mut c = || {
            order.borrow_mut().push('c');
            Ok(2.0)
        };
        let s = interleave(3, &mut [&mut a, &mut b, &mut c]);
        assert_eq!(order.into_inner(), vec!['a', 'b', 'c', 'a', 'c', 'a', 'c']);
        assert_eq!(s[0].len(), 3);
        assert!(s[1].error.is_some());
        assert_eq!(s[2].median(), Some(2.0));
    }
}
