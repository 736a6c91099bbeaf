//! DICOM for ferry: headers read up to PixelData (for labels, PHI findings and verification), header
//! rewrites that keep the pixel data bytes exactly as they were, blake3 hashes of pixel data and whole
//! files, and the list of identifying keywords the anonymization gate looks for.
//!
//! Nothing here prints or returns header values in errors: they may identify a patient.

mod error;
mod header;
mod phi;
mod rewrite;
pub mod synth;
mod walk;

pub use error::DicomError;
pub use header::{
    is_known_keyword, is_standard_keyword, nearest_keyword, read_header_bytes, read_header_path,
    Header,
};
pub use phi::{phi_findings, PHI_KEYWORDS};
pub use rewrite::{content_hash, pixel_hash, rewrite};

/// blake3 of a whole file, hex.
pub fn file_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[cfg(test)]
mod tests;
