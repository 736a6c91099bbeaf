//! The header of a file read from a stream: only the bytes before PixelData (or the whole of a file
//! without it) are read and held, in growing steps, so a file of any size is never read whole to
//! learn its header.

use std::io::Read;

/// The start of a file: its header and whatever was read past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The bytes read: the header, then possibly the start of what follows it.
    pub bytes: Vec<u8>,
    /// Where the header ends in `bytes` (where PixelData starts, or the end of a file without it);
    /// `None` when the bytes are not a DICOM file.
    pub end: Option<usize>,
}

impl Head {
    /// The header: the bytes before PixelData; `None` when the file is not DICOM.
    pub fn header(&self) -> Option<&[u8]> {
        self.end.map(|e| &self.bytes[..e])
    }
}

/// Why a header could not be read.
#[derive(Debug)]
pub enum HeadError {
    /// Reading failed.
    Io(std::io::Error),
    /// The header does not end within the cap.
    TooLarge,
}

/// Reads `r` into `bytes` until it holds `target` bytes or `r` ends; whether it ended.
fn fill(r: &mut dyn Read, bytes: &mut Vec<u8>, target: usize) -> std::io::Result<bool> {
    let want = target.saturating_sub(bytes.len()) as u64;
    let got = r.take(want).read_to_end(bytes)? as u64;
    Ok(got < want)
}

/// Reads the header of the file `r` streams: `chunk` bytes first, then twice as many each time the
/// structural walk needs more, until PixelData starts or the file ends. More than `cap` bytes (the
/// header and the PixelData tag that ends it) are never held. Whatever the walk refuses is not a DICOM
/// file, as when the whole file is read.
pub fn read_head(r: &mut dyn Read, chunk: usize, cap: usize) -> Result<Head, HeadError> {
    read_head_of(r, (chunk, cap), u64::MAX)
}

/// [`read_head`] of a stream known to give at most `total` bytes: the first read's buffer is sized
/// once for what it can get, so a small file is not copied again as the buffer grows.
pub fn read_head_of(
    r: &mut dyn Read,
    (chunk, cap): (usize, usize),
    total: u64,
) -> Result<Head, HeadError> {
    let mut target = chunk.max(1).min(cap + 1);
    let mut bytes = Vec::with_capacity(total.min(target as u64) as usize);
    loop {
        let eof = fill(r, &mut bytes, target).map_err(HeadError::Io)?;
        match super::header_end(&bytes, eof) {
            Ok(Some(end)) => {
                return Ok(Head {
                    bytes,
                    end: Some(end),
                })
            }
            Ok(None) if bytes.len() > cap => return Err(HeadError::TooLarge),
            Ok(None) => target = target.saturating_mul(2).min(cap + 1),
            Err(_) => return Ok(Head { bytes, end: None }),
        }
    }
}

/// The first read of a header, in bytes (most headers end within it).
pub const HEAD_CHUNK: usize = 256 * 1024;
/// The largest header (the part of a file before PixelData, or the whole of a file without it)
/// ferry holds in memory.
pub const MAX_HEADER_BYTES: usize = 64 << 20;

/// The header of the file `r` streams, read as [`read_head`] reads it (at most [`MAX_HEADER_BYTES`])
/// and parsed; `Ok(None)` for a file that is not DICOM, or whose header is larger than that. The rest
/// of the file is left unread.
pub fn read_header_stream(r: &mut dyn Read) -> std::io::Result<Option<super::Header>> {
    match read_head(r, HEAD_CHUNK, MAX_HEADER_BYTES) {
        Ok(head) => Ok(head.header().and_then(|h| super::read_header_bytes(h).ok())),
        Err(HeadError::TooLarge) => Ok(None),
        Err(HeadError::Io(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicom::synth::{file, Spec};

    #[test]
    fn a_header_is_read_from_a_stream_without_the_pixel_data() {
        let mut spec = Spec::new(4);
        spec.size = 512;
        spec.frames = 4;
        let f = file(&spec);
        let mut r = std::io::Cursor::new(&f);
        let h = read_header_stream(&mut r).unwrap().unwrap();
        assert_eq!(h, crate::dicom::read_header_bytes(&f).unwrap());
        // One first read of 256 KiB, of a file of 2 MB.
        assert_eq!(r.position(), HEAD_CHUNK as u64);
        let mut r = std::io::Cursor::new(b"not DICOM".repeat(100));
        assert_eq!(read_header_stream(&mut r).unwrap(), None);
    }
}
