//! Throttling that admins ask for: an optional bandwidth cap (`--bwlimit 50M`) shared by every
//! transfer of a run (the token bucket itself is [`crate::rate`]). The limit on requests in flight per
//! server lives in the client, `xnat::http`.

pub use crate::rate::{Bandwidth, Clock, SystemClock};

/// Why a `--bwlimit` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bandwidth `{0}`: expected bytes per second with an optional K, M or G suffix, e.g. `50M`")]
pub struct BadRate(pub String);

/// Parses `50M`, `500K`, `1G`, `123456` into bytes per second (binary multiples).
pub fn parse_rate(s: &str) -> Result<u64, BadRate> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| BadRate(s.to_string()))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(BadRate(s.to_string()));
    }
    Ok(((n * mult as f64) as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(parse_rate("50M"), Ok(50 << 20));
        assert_eq!(parse_rate("1.5k"), Ok(1536));
        assert_eq!(parse_rate("2G"), Ok(2 << 30));
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("-5M").is_err());
        assert!(parse_rate("").is_err());
    }
}
