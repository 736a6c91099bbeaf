//! Small pure helpers of the emulator: percent-decoding, query and form parsing, Basic credentials,
//! MD5 digests, XNAT-style time stamps and text escaping.

use md5::{Digest, Md5};
use std::time::{SystemTime, UNIX_EPOCH};

/// Decodes `%XX` escapes (and `+` as space when `plus` is set); `None` on a malformed escape or
/// invalid UTF-8.
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `a=1&b=2` into pairs; `None` if any part is badly encoded.
pub fn parse_pairs(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(k, true)?, percent_decode(v, true)?));
    }
    Some(out)
}

/// Encodes a path segment for a URL.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes standard base64 (with or without padding); `None` on bad input.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Lower-case hex MD5 of bytes.
pub fn md5_hex(bytes: &[u8]) -> String {
    let d = Md5::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The current UTC time as (y, m, d, H, M, S, ms).
fn now_parts() -> (i64, u32, u32, u64, u64, u64, u64) {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    (y, m, d, t / 3600, (t / 60) % 60, t % 60, ms % 1000)
}

/// Now as an SQL-like time stamp, `2024-01-15 10:11:12.345` (XNAT's `insert_date`).
pub fn now_sql() -> String {
    let (y, mo, d, h, mi, s, ms) = now_parts();
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03}")
}

/// Now as a prearchive folder time stamp, `yyyyMMdd_HHmmssSSS`.
pub fn now_prearc() -> String {
    let (y, mo, d, h, mi, s, ms) = now_parts();
    format!("{y:04}{mo:02}{d:02}_{h:02}{mi:02}{s:02}{ms:03}")
}

/// A date given as day of year 1..=366 in a year, as `YYYY-MM-DD`.
pub fn date_from_day_of_year(year: i64, day: u32) -> String {
    // Days from the epoch to 1 January of `year`.
    let mut days: i64 = 0;
    for y in 1970..year {
        days += if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
            366
        } else {
            365
        };
    }
    let (y, m, d) = civil_from_days(days + i64::from(day.max(1)) - 1);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Escapes text for XML and HTML.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Quotes a CSV field when needed (comma, quote, newline), doubling quotes.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Whether a project ID or label is valid for XNAT (`^[A-Za-z0-9_-]+$`).
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A random upper-case hex string of `n` characters (session ids, token secrets).
pub fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect::<String>()
        .to_ascii_uppercase()
}

/// Matches text against a pattern where `*` and `%` match any run of characters (case-insensitive).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '*' || p[pi] == '%') {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && (p[pi] == '*' || p[pi] == '%') {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_rejects_bad_escapes() {
        assert_eq!(percent_decode("a%20b+c", true).as_deref(), Some("a b c"));
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%ff", false), None);
    }

    #[test]
    fn base64_round_trips_credentials() {
        assert_eq!(base64_decode("YWRtaW46YWRtaW4=").unwrap(), b"admin:admin");
        assert_eq!(base64_decode("!!"), None);
    }

    #[test]
    fn md5_matches_known_value() {
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn day_of_year_to_date() {
        assert_eq!(date_from_day_of_year(2024, 1), "2024-01-01");
        assert_eq!(date_from_day_of_year(2024, 60), "2024-02-29");
        assert_eq!(date_from_day_of_year(2024, 366), "2024-12-31");
    }

    #[test]
    fn wildcards_and_ids() {
        assert!(wildcard_match("SUB0*", "sub001"));
        assert!(wildcard_match("*MR%", "SUB001_MR1"));
        assert!(!wildcard_match("SUB1*", "SUB001"));
        assert!(valid_id("MAIN_002-x"));
        assert!(!valid_id("a.b"));
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }
}
