//! Small pure helpers of the emulator: percent-decoding, query and form parsing, Basic credentials,
//! MD5 digests, XNAT-style time stamps and text escaping.

use md5::{Digest, Md5};

/// Decodes `%XX` escapes (and `+` as space when `plus` is set); `None` on a malformed escape or
/// invalid UTF-8 (a server answers those with `400`).
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let well_formed = s
        .split('%')
        .skip(1)
        .all(|rest| rest.len() >= 2 && rest.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit));
    if !well_formed {
        return None;
    }
    let spaced;
    let s = if plus {
        spaced = s.replace('+', " ");
        spaced.as_str()
    } else {
        s
    };
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
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

/// What a path segment keeps unescaped: letters, digits and `-_.~` (RFC 3986 unreserved).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes a path segment for a URL.
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// Decodes standard base64 (padding optional, as browsers and clients differ); `None` on bad input.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(s.trim())
        .ok()
}

/// Lower-case hex MD5 of bytes.
pub fn md5_hex(bytes: &[u8]) -> String {
    let d = Md5::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Now as an SQL-like time stamp, `2024-01-15 10:11:12.345` (XNAT's `insert_date`).
pub fn now_sql() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

/// Now as a prearchive folder time stamp, `yyyyMMdd_HHmmssSSS`.
pub fn now_prearc() -> String {
    chrono::Utc::now().format("%Y%m%d_%H%M%S%3f").to_string()
}

/// A date given as day of year 1..=366 in a year, as `YYYY-MM-DD` (day 0 counts as 1; a day past
/// the year's end as its last day).
pub fn date_from_day_of_year(year: i32, day: u32) -> String {
    use chrono::Datelike;
    let last = chrono::NaiveDate::from_ymd_opt(year, 12, 31).map_or(365, |d| d.ordinal());
    chrono::NaiveDate::from_yo_opt(year, day.clamp(1, last))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
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
        assert_eq!(percent_decode("a%2B%2fb", true).as_deref(), Some("a+/b"));
        assert_eq!(percent_encode("SUB 1/2.dcm"), "SUB%201%2F2.dcm");
    }

    #[test]
    fn base64_round_trips_credentials() {
        assert_eq!(base64_decode("YWRtaW46YWRtaW4=").unwrap(), b"admin:admin");
        assert_eq!(base64_decode("YWRtaW46YWRtaW4").unwrap(), b"admin:admin");
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
        assert_eq!(date_from_day_of_year(2023, 366), "2023-12-31");
        assert!(now_prearc().len() == 18 && now_sql().len() == 23);
    }

    #[test]
    fn wildcards_and_ids() {
        assert!(wildcard_match("SUB0*", "sub001"));
        assert!(wildcard_match("*MR%", "SUB001_MR1"));
        assert!(!wildcard_match("SUB1*", "SUB001"));
        assert!(valid_id("MAIN_002-x"));
        assert!(!valid_id("a.b"));
    }
}
