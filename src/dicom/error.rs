//! The errors of the DICOM layer. Messages name what is wrong and where, never a header value.

/// Why a DICOM file could not be read or rewritten.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    /// The bytes are not a DICOM Part 10 file (no `DICM` marker).
    #[error("not a DICOM file (no DICM marker after the 128-byte preamble)")]
    NotDicom,
    /// The file ends before its header does.
    #[error("the DICOM file is truncated: {0}")]
    Truncated(String),
    /// The file's structure cannot be parsed.
    #[error("the DICOM file is malformed: {0}")]
    Malformed(String),
    /// A keyword is not in the standard dictionary, or cannot be set.
    #[error("`{keyword}` {why}")]
    UnknownKeyword {
        /// The keyword.
        keyword: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A value cannot be encoded for the keyword's value representation.
    #[error("the value for `{keyword}` does not fit its value representation {vr}")]
    BadValue {
        /// The keyword.
        keyword: String,
        /// The value representation.
        vr: String,
    },
    /// The file uses a transfer syntax whose header ferry cannot rewrite in place.
    #[error("transfer syntax {0} cannot be rewritten without re-encoding pixel data")]
    Unsupported(String),
    /// Reading the file failed.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
