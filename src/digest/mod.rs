//! Message digests computed for many files at once.
//!
//! [`md5lanes`] hashes many independent messages with MD5 in SIMD lanes (8 with AVX2, 16 with
//! AVX-512), for `apply`, which lists and verifies an MD5 per rewritten file.

mod md5compress;
pub mod md5lanes;

pub use md5lanes::{md5_many, md5_one};

/// A digest as XNAT lists it: lower-case hex, two digits per byte.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
