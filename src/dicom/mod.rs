//! DICOM for ferry: headers read up to PixelData (for labels, PHI findings and verification), header
//! rewrites that keep the pixel data bytes exactly as they were, blake3 hashes of pixel data and whole
//! files, DICOM PS3.15 Annex E as data (`profile`), its de-identification profile applied in the
//! rewrite, and the anonymization gate (`phi`) over every element at any depth.
//!
//! Nothing here prints or returns header values in errors: they may identify a patient.

mod annex_e_table;
mod deidentify;
mod elements;
mod error;
pub mod fingerprint;
mod head;
mod header;
mod parsed;
pub mod phi;
pub mod profile;
mod rewrite;
mod splice;
pub mod synth;
mod tail;
mod walk;

pub use deidentify::Profile;
pub use elements::{seen_from_keywords, Seen};
pub use error::DicomError;
pub use fingerprint::pixel_data_offset;
pub use head::{
    read_head, read_head_of, read_header_stream, Head, HeadError, HEAD_CHUNK, MAX_HEADER_BYTES,
};
pub use header::{
    is_known_keyword, is_standard_keyword, nearest_keyword, read_header_bytes, read_header_path,
    Header,
};
pub use parsed::Parsed;
pub use rewrite::{
    content_hash, header_end, pixel_hash, rewrite, rewrite_with, value_from_text, TextValueError,
};
pub use tail::PixelTail;

/// blake3 of a whole file, hex.
pub fn file_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[cfg(test)]
mod tests;
