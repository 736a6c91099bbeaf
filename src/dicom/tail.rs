//! The part of a file from PixelData on, hashed as it streams past in chunks of any size, so a file
//! of any length is hashed without holding it: the same value [`super::pixel_hash`] computes from a
//! whole file in memory (the PixelData value bytes for a defined length; for encapsulated pixel data,
//! of undefined length, everything from its first item to the end of the file).

use super::DicomError;

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";

/// A running hash of the PixelData value of a file whose bytes from the PixelData element on are fed
/// to [`PixelTail::update`].
#[derive(Debug, Clone)]
pub struct PixelTail {
    big_endian: bool,
    /// The length of the PixelData element's header: 12 (explicit VR) or 8 (implicit VR).
    head_len: usize,
    head: Vec<u8>,
    /// Value bytes still to hash once the element's header is read; `None` for an undefined length
    /// (hashed to the end of the file).
    remaining: Option<Option<u64>>,
    hasher: blake3::Hasher,
}

impl PixelTail {
    /// A hash for a file whose header (everything before PixelData) is `header`: its transfer syntax
    /// says how the PixelData element's header reads.
    pub fn after(header: &[u8]) -> Result<PixelTail, DicomError> {
        let ts = super::rewrite::transfer_syntax_uid(header)?;
        let explicit = ts != IMPLICIT_LE;
        Ok(PixelTail {
            big_endian: ts == EXPLICIT_BE,
            head_len: if explicit { 12 } else { 8 },
            head: Vec::with_capacity(12),
            remaining: None,
            hasher: blake3::Hasher::new(),
        })
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, mut chunk: &[u8]) {
        if self.remaining.is_none() {
            let take = (self.head_len - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.head.len() < self.head_len {
                return;
            }
            let b = &self.head[self.head_len - 4..];
            let b = [b[0], b[1], b[2], b[3]];
            let len = if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            };
            self.remaining = Some((len != u32::MAX).then_some(u64::from(len)));
        }
        match &mut self.remaining {
            Some(Some(left)) => {
                let n = (*left).min(chunk.len() as u64) as usize;
                self.hasher.update(&chunk[..n]);
                *left -= n as u64;
            }
            Some(None) => {
                self.hasher.update(chunk);
            }
            None => {}
        }
    }

    /// The hash (hex), once the whole file has been fed; an error when the file ended inside the
    /// PixelData element's header or inside a value of defined length.
    pub fn finish(self) -> Result<String, DicomError> {
        match self.remaining {
            None => Err(DicomError::Truncated(
                "the PixelData element header is cut off".into(),
            )),
            Some(Some(left)) if left > 0 => {
                Err(DicomError::Truncated("the pixel data is cut off".into()))
            }
            Some(_) => Ok(self.hasher.finalize().to_hex().to_string()),
        }
    }
}
