//! Edits of the part of a file before PixelData by code outside this module (the destination's
//! anonymization scripts), with the same guarantee as [`super::rewrite`]: the preamble, the file meta
//! group, PixelData and everything after it are copied byte for byte.

use super::rewrite::layout;
use super::DicomError;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// Why an edit did not happen.
#[derive(Debug)]
pub enum EditFailure {
    /// The editing code refused (its own message).
    Refused(String),
    /// The file could not be read or written.
    Dicom(DicomError),
}

/// Hands the data set before PixelData to `edit`; when it reports a change, returns the re-encoded
/// file, else `None`.
pub fn edit_header(
    bytes: &[u8],
    edit: impl FnOnce(&mut InMemDicomObject) -> Result<bool, String>,
) -> Result<Option<Vec<u8>>, EditFailure> {
    let l = layout(bytes).map_err(EditFailure::Dicom)?;
    let ts = TransferSyntaxRegistry
        .get(&l.transfer_syntax)
        .ok_or_else(|| EditFailure::Dicom(DicomError::Unsupported(l.transfer_syntax.clone())))?;
    let end = l.pixel_start.unwrap_or(bytes.len());
    let malformed =
        |e: &dyn std::fmt::Display| EditFailure::Dicom(DicomError::Malformed(e.to_string()));
    let mut ds = InMemDicomObject::read_dataset_with_ts(&bytes[l.dataset_start..end], ts)
        .map_err(|e| malformed(&e))?;
    if !edit(&mut ds).map_err(EditFailure::Refused)? {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(bytes.len() + 512);
    out.extend_from_slice(&bytes[..l.dataset_start]);
    ds.write_dataset_with_ts(&mut out, ts)
        .map_err(|e| malformed(&e))?;
    out.extend_from_slice(&bytes[end..]);
    Ok(Some(out))
}
