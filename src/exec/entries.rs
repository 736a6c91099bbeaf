//! The entries of a zip read as streams, so memory does not depend on the size of a file: of each
//! entry only its header (everything before PixelData) is held, read in growing steps until the
//! PixelData element or the end of the entry is reached; the rest (PixelData and anything after it)
//! then passes through in fixed-size chunks, to the upload zip and to the hashers.
//!
//! An object without PixelData (a structured report, a presentation state, an encapsulated
//! document) is all header, so it is held whole: the header cap [`MAX_HEADER_BYTES`] bounds it, and
//! an entry whose header is larger is refused with its name.

use super::zipfacts::FactsError;
use crate::dicom::{self, HeadError};
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::ops::Range;
use std::path::Path;

/// The size of the chunks the part after the header passes through in, and of the first read of
/// every entry.
pub const CHUNK: usize = dicom::HEAD_CHUNK;
/// The largest header (the part of a file before PixelData, or the whole of a file without it)
/// ferry holds in memory.
pub const MAX_HEADER_BYTES: usize = dicom::MAX_HEADER_BYTES;
/// The largest single file ferry accepts inside a zip.
pub const MAX_ENTRY_BYTES: u64 = 4 << 30;
/// The most entries ferry accepts in one zip.
pub const MAX_ENTRIES: usize = 1_000_000;

/// One entry of a zip, its header read, the rest still to come.
pub(crate) struct Entry<'a> {
    name: &'a str,
    zip: &'a Path,
    /// The bytes read so far: the header, then the start of what follows it (the whole file, borrowed,
    /// for an entry of a zip in memory).
    head: Cow<'a, [u8]>,
    /// Where the header ends in `head`; `None` when the entry is not a DICOM file.
    end: Option<usize>,
    reader: &'a mut dyn Read,
    chunk: usize,
    /// Bytes taken from `reader` so far (with `head`).
    read: u64,
    /// The most bytes `reader` gives in all, when known.
    total: Option<u64>,
    /// Whether the bytes after the header were handed out.
    streamed: bool,
}

impl<'a> Entry<'a> {
    /// Reads the header of the entry `name` of `zip` from `reader`: `chunk` bytes first, then twice
    /// as many each time the walk needs more, until PixelData starts or the entry ends. More than
    /// `cap` bytes (the header and the PixelData tag that ends it) are never held.
    #[cfg(test)]
    pub(crate) fn start(
        name: &'a str,
        zip: &'a Path,
        reader: &'a mut dyn Read,
        chunk: usize,
        cap: usize,
    ) -> Result<Entry<'a>, HeadError> {
        Entry::start_of(name, zip, reader, (chunk, cap), u64::MAX)
    }

    /// [`Entry::start`] of a reader that gives at most `total` bytes in all: the buffers the header
    /// is read into and the rest passes through are no larger than that (a small file does not get
    /// chunk-sized ones).
    pub(crate) fn start_of(
        name: &'a str,
        zip: &'a Path,
        reader: &'a mut dyn Read,
        (chunk, cap): (usize, usize),
        total: u64,
    ) -> Result<Entry<'a>, HeadError> {
        let chunk = chunk.max(1);
        let dicom::Head { bytes: head, end } = dicom::read_head_of(reader, (chunk, cap), total)?;
        Ok(Entry {
            name,
            zip,
            read: head.len() as u64,
            head: Cow::Owned(head),
            end,
            reader,
            chunk,
            total: (total != u64::MAX).then_some(total),
            streamed: false,
        })
    }

    /// An entry whose bytes are all at hand (a stored entry of a zip in memory): nothing is copied,
    /// the header is found in `bytes` and the rest is handed out from them.
    fn whole(
        name: &'a str,
        zip: &'a Path,
        bytes: &'a [u8],
        (chunk, cap): (usize, usize),
        nothing: &'a mut dyn Read,
    ) -> Result<Entry<'a>, HeadError> {
        let end = dicom::header_end(bytes, true).ok().flatten();
        if end.is_some_and(|e| e > cap) {
            return Err(HeadError::TooLarge);
        }
        Ok(Entry {
            name,
            zip,
            read: bytes.len() as u64,
            head: Cow::Borrowed(bytes),
            end,
            reader: nothing,
            chunk: chunk.max(1),
            total: Some(bytes.len() as u64 + 1),
            streamed: false,
        })
    }

    /// The size the zip announces for the entry, when it was started with [`Entry::start_of`].
    pub(crate) fn announced(&self) -> Option<u64> {
        self.total.map(|t| t.saturating_sub(1))
    }

    /// The entry's name in its zip.
    pub(crate) fn name(&self) -> &str {
        self.name
    }

    /// The header: the bytes before PixelData, or the whole file when it has none; `None` when the
    /// entry is not a DICOM file.
    pub(crate) fn header(&self) -> Option<&[u8]> {
        self.end.map(|e| &self.head[..e])
    }

    /// Whether the file goes on after its header (it has PixelData).
    pub(crate) fn has_pixel_data(&self) -> bool {
        self.end.is_some_and(|e| e < self.head.len())
    }

    fn read_error(&self, e: std::io::Error) -> FactsError {
        FactsError::Zip {
            path: self.zip.display().to_string(),
            detail: format!("entry `{}`: {e}", self.name),
        }
    }

    /// Hands the bytes after the header to `sink`, chunk by chunk (at most [`CHUNK`] bytes each, or
    /// the chunk size the entry was started with).
    pub(crate) fn stream_rest(
        &mut self,
        mut sink: impl FnMut(&[u8]) -> Result<(), FactsError>,
    ) -> Result<(), FactsError> {
        if self.streamed {
            return Ok(());
        }
        self.streamed = true;
        let from = self.end.unwrap_or(self.head.len());
        for piece in self.head[from..].chunks(self.chunk) {
            sink(piece)?;
        }
        // The header stays; what followed it is passed on and dropped.
        self.head = match std::mem::take(&mut self.head) {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..from]),
            Cow::Owned(mut v) => {
                v.truncate(from);
                v.shrink_to_fit();
                Cow::Owned(v)
            }
        };
        let left = self.total.map_or(u64::MAX, |t| t.saturating_sub(self.read));
        let mut buf = vec![0u8; left.clamp(1, self.chunk as u64) as usize];
        loop {
            let n = match self.reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(e)),
            };
            self.read += n as u64;
            sink(&buf[..n])?;
        }
    }

    /// Reads what is left of the entry (to check its size and checksum) and returns how many
    /// bytes it held in all.
    fn finish(mut self) -> Result<u64, FactsError> {
        self.stream_rest(|_| Ok(()))?;
        Ok(self.read)
    }
}

/// `64 MiB`, or `300 bytes` for a size that is not a whole number of MiB.
fn size_text(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

fn zip_err<'a>(path: &'a Path) -> impl Fn(zip::result::ZipError) -> FactsError + 'a {
    move |e| FactsError::Zip {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Calls `f` with every file entry of the zip at `path`, one at a time, its header read (first
/// `chunk` bytes, at most `cap`) and the rest to be streamed (see [`Entry::stream_rest`]); what `f`
/// leaves unread is read after it, and every entry must hold exactly the bytes it announces.
pub(crate) fn each_entry(
    path: &Path,
    (chunk, cap): (usize, usize),
    f: impl FnMut(&mut Entry<'_>) -> Result<(), FactsError>,
) -> Result<(), FactsError> {
    let file = File::open(path).map_err(|source| FactsError::Io {
        action: "open",
        path: path.display().to_string(),
        source,
    })?;
    each_entry_of(BufReader::new(file), path, (chunk, cap), f)
}

/// [`each_entry`] of a zip read from `zip` (a file or bytes in memory); `path` names it in errors.
pub(crate) fn each_entry_of(
    zip: impl Read + Seek,
    path: &Path,
    sizes: (usize, usize),
    f: impl FnMut(&mut Entry<'_>) -> Result<(), FactsError>,
) -> Result<(), FactsError> {
    each_entry_with(zip, None, path, sizes, f)
}

/// Where the data of a stored `entry` lie in its zip (offsets from the zip's start); `None` when the
/// entry is compressed.
pub(crate) fn stored_range<R: Read>(entry: &zip::read::ZipFile<'_, R>) -> Option<Range<u64>> {
    if entry.compression() != zip::CompressionMethod::Stored
        || entry.compressed_size() != entry.size()
    {
        return None;
    }
    let start = entry.data_start()?;
    Some(start..start.checked_add(entry.size())?)
}

/// The data of a stored `entry` of the zip whose bytes are `zip`, as a slice of them; `None` when the
/// entry is compressed or its data are not all there.
fn stored_data<'m, R: Read>(entry: &zip::read::ZipFile<'_, R>, zip: &'m [u8]) -> Option<&'m [u8]> {
    let r = stored_range(entry)?;
    zip.get(usize::try_from(r.start).ok()?..usize::try_from(r.end).ok()?)
}

/// The stored data of `entry` in `memory` (the whole zip it is read from), its CRC-32 checked;
/// `None` when the entry is compressed or its data are not all there (it is then read as a stream,
/// which reports what is wrong).
fn stored_slice<'m, R: Read>(
    entry: &zip::read::ZipFile<'_, R>,
    memory: Option<&'m [u8]>,
    name: &str,
    path: &Path,
) -> Result<Option<&'m [u8]>, FactsError> {
    let Some(data) = memory.and_then(|m| stored_data(entry, m)) else {
        return Ok(None);
    };
    if crc32fast::hash(data) != entry.crc32() {
        return Err(FactsError::Zip {
            path: path.display().to_string(),
            detail: format!("entry `{name}`: its bytes do not match their CRC-32"),
        });
    }
    Ok(Some(data))
}

/// [`each_entry_of`]; with `memory` (the bytes `zip` reads), a stored entry is handed to `f` as a
/// slice of them (its CRC-32 checked first), not copied.
pub(crate) fn each_entry_with(
    zip: impl Read + Seek,
    memory: Option<&[u8]>,
    path: &Path,
    (chunk, cap): (usize, usize),
    mut f: impl FnMut(&mut Entry<'_>) -> Result<(), FactsError>,
) -> Result<(), FactsError> {
    let mut zip = zip::ZipArchive::new(zip).map_err(zip_err(path))?;
    let limits = |detail: String| FactsError::Limits {
        path: path.display().to_string(),
        detail,
    };
    if zip.len() > MAX_ENTRIES {
        return Err(limits(format!(
            "{} entries (at most {MAX_ENTRIES})",
            zip.len()
        )));
    }
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(zip_err(path))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(zip_err(path))?.to_string();
        let announced = entry.size();
        if announced > MAX_ENTRY_BYTES {
            return Err(limits(format!(
                "entry `{name}` announces {announced} bytes"
            )));
        }
        let slice = stored_slice(&entry, memory, &name, path)?;
        // One byte past the announced size, to catch an entry larger than it says.
        let mut reader = entry.take(announced + 1);
        let mut nothing = std::io::empty();
        let started = match slice {
            Some(bytes) => Entry::whole(&name, path, bytes, (chunk, cap), &mut nothing),
            None => Entry::start_of(&name, path, &mut reader, (chunk, cap), announced + 1),
        };
        let mut e = started.map_err(
            |e| match e {
                HeadError::Io(e) => FactsError::Zip {
                    path: path.display().to_string(),
                    detail: format!("entry `{name}`: {e}"),
                },
                HeadError::TooLarge => limits(format!(
                    "entry `{name}`: its header (the part before PixelData, or the whole of an object without pixel data) is larger than {}; ferry holds at most that much of a file in memory",
                    size_text(cap)
                )),
            },
        )?;
        f(&mut e)?;
        if e.finish()? != announced {
            return Err(limits(format!(
                "entry `{name}` holds more or fewer bytes than the {announced} it announces"
            )));
        }
    }
    Ok(())
}

/// Which of the optional hashes [`Hashes`] takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Take {
    /// MD5 of the whole file (what the destination's listing is compared with).
    pub md5: bool,
    /// blake3 of the whole file. Facts of a rewrite leave it out: their header hash, pixel hash and
    /// MD5 already cover the file, and only facts without a header hash (from an earlier ferry) are
    /// compared by it.
    pub file: bool,
    /// blake3 of the PixelData value. A rewrite leaves it for later ([`DEFERRED`]): only a file read
    /// back needs it, and it is then taken from the upload zip.
    pub pixels: bool,
}

/// The pixel hash of a file whose pixel data was not hashed as it streamed (see [`Take::pixels`]).
pub(crate) const DEFERRED: &str = "";

/// The hashes of one file taken as its bytes pass: blake3 of its PixelData value (as
/// [`dicom::pixel_hash`] defines it), and blake3 and MD5 of the whole file when asked for.
pub(crate) struct Hashes {
    size: u64,
    /// The file has PixelData, not hashed here.
    deferred: bool,
    file: Option<blake3::Hasher>,
    pixels: Option<dicom::PixelTail>,
    md5: Option<md5::Md5>,
}

/// What [`Hashes`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Streamed {
    /// Bytes of the whole file.
    pub size: u64,
    /// blake3 of the PixelData value, hex ([`DEFERRED`] when not taken); `None` for a file
    /// without PixelData.
    pub pixel_hash: Option<String>,
    /// blake3 of the whole file, hex, when asked for; else empty.
    pub file_hash: String,
    /// MD5 of the whole file, hex, when asked for; else empty.
    pub md5: String,
}

impl Hashes {
    /// Hashes for a file whose header is `header` (fed here); `pixels`: the file goes on with
    /// PixelData.
    pub(crate) fn new(
        header: &[u8],
        pixels: bool,
        take: Take,
    ) -> Result<Hashes, dicom::DicomError> {
        let mut h = Hashes {
            size: 0,
            deferred: pixels && !take.pixels,
            file: take.file.then(blake3::Hasher::new),
            pixels: if pixels && take.pixels {
                Some(dicom::PixelTail::after(header)?)
            } else {
                None
            },
            md5: take.md5.then(<md5::Md5 as md5::Digest>::new),
        };
        h.size = header.len() as u64;
        if let Some(f) = h.file.as_mut() {
            f.update(header);
        }
        if let Some(m) = h.md5.as_mut() {
            md5::Digest::update(m, header);
        }
        Ok(h)
    }

    /// Feeds the next bytes after the header.
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        if let Some(f) = self.file.as_mut() {
            f.update(chunk);
        }
        if let Some(p) = self.pixels.as_mut() {
            p.update(chunk);
        }
        if let Some(m) = self.md5.as_mut() {
            md5::Digest::update(m, chunk);
        }
    }

    /// The hashes, once the whole file was fed.
    pub(crate) fn finish(self) -> Result<Streamed, dicom::DicomError> {
        Ok(Streamed {
            size: self.size,
            pixel_hash: match self.pixels {
                Some(p) => Some(p.finish()?),
                None => self.deferred.then(|| DEFERRED.to_string()),
            },
            file_hash: self
                .file
                .map(|f| f.finalize().to_hex().to_string())
                .unwrap_or_default(),
            md5: self
                .md5
                .map(|m| crate::digest::hex(&md5::Digest::finalize(m)))
                .unwrap_or_default(),
        })
    }
}
