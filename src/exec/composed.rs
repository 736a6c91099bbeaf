//! An upload zip that refers to the download zip it was rewritten from instead of copying it.
//!
//! A session held in memory is rewritten into a zip whose files are their new headers followed by
//! the rest of the source files (pixel data) unchanged. [`Composer`] is the writer the zip crate
//! writes that zip into: bytes that lie inside the download zip's buffer are recorded as a range of
//! it; everything else (zip headers, rewritten DICOM headers, the central directory) is kept in the
//! composer's own buffer. The result, a [`Layout`], reads as the zip it stands for, so the upload,
//! its retries and the read-back see the same bytes a copied zip would hold, while the pixel data
//! is neither copied nor held twice.

use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;

/// Where a run of the zip's bytes lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// In the layout's own bytes, from this offset.
    Own(usize),
    /// In the download zip, from this offset.
    Base(usize),
}

/// A run of the zip's bytes: `len` bytes at `at` in the zip, found at `from`.
#[derive(Debug, Clone, Copy)]
struct Part {
    at: u64,
    len: usize,
    from: Source,
}

impl Part {
    fn end(&self) -> u64 {
        self.at + self.len as u64
    }
}

/// Records what the zip crate writes, referring to `base` where the bytes written lie inside it.
#[derive(Debug)]
pub struct Composer<'b> {
    base: &'b [u8],
    layout: Layout,
    pos: u64,
}

/// A zip as runs of its own bytes and of the download zip's (the base).
#[derive(Debug, Default)]
pub struct Layout {
    own: Vec<u8>,
    parts: Vec<Part>,
    len: u64,
}

impl<'b> Composer<'b> {
    /// A composer referring to `base`, with room for `own` bytes of its own.
    pub fn new(base: &'b [u8], own: usize) -> Composer<'b> {
        Composer {
            base,
            layout: Layout {
                own: Vec::with_capacity(own),
                ..Layout::default()
            },
            pos: 0,
        }
    }

    /// The layout of what was written.
    pub fn into_layout(self) -> Layout {
        self.layout
    }

    /// The offset of `buf` in the base, when `buf` lies wholly inside it.
    fn in_base(&self, buf: &[u8]) -> Option<usize> {
        let start = self.base.as_ptr() as usize;
        let at = (buf.as_ptr() as usize).checked_sub(start)?;
        (at.checked_add(buf.len())? <= self.base.len()).then_some(at)
    }

    /// Appends `buf` at the end of the zip.
    fn append(&mut self, buf: &[u8]) {
        let from = match self.in_base(buf) {
            Some(at) => Source::Base(at),
            None => {
                self.layout.own.extend_from_slice(buf);
                Source::Own(self.layout.own.len() - buf.len())
            }
        };
        let l = &mut self.layout;
        let follows = |p: &Part| match (p.from, from) {
            (Source::Own(a), Source::Own(b)) | (Source::Base(a), Source::Base(b)) => a + p.len == b,
            _ => false,
        };
        match l.parts.last_mut() {
            Some(p) if follows(p) => p.len += buf.len(),
            _ => l.parts.push(Part {
                at: l.len,
                len: buf.len(),
                from,
            }),
        }
        l.len += buf.len() as u64;
    }

    /// Writes `buf` over bytes already written (the zip crate does so to fill in a file's sizes and
    /// checksum); only the composer's own bytes can be written over.
    fn overwrite(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let l = &mut self.layout;
        let i = l.parts.partition_point(|p| p.end() <= self.pos);
        let part = l.parts.get(i).copied().ok_or_else(past_end)?;
        let Source::Own(start) = part.from else {
            return Err(std::io::Error::other(
                "the zip writer went back over pixel data it had written",
            ));
        };
        let skip = (self.pos - part.at) as usize;
        let n = buf.len().min(part.len - skip);
        l.own[start + skip..start + skip + n].copy_from_slice(&buf[..n]);
        Ok(n)
    }
}

fn past_end() -> std::io::Error {
    std::io::Error::other("a write past the end of the zip")
}

impl Write for Composer<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = if self.pos == self.layout.len {
            self.append(buf);
            buf.len()
        } else if self.pos < self.layout.len {
            self.overwrite(buf)?
        } else {
            return Err(past_end());
        };
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for Composer<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.layout.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::other("a seek before the start"))?;
        Ok(self.pos)
    }
}

impl Layout {
    /// The zip's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the zip is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes the layout holds itself (the rest are the base's).
    pub fn own_len(&self) -> usize {
        self.own.len()
    }

    /// The zip's bytes in order, as slices of its own bytes and of `base`.
    pub fn slices<'a>(&'a self, base: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.parts
            .iter()
            .map(move |p| self.slice(p, base, 0..p.len))
    }

    fn slice<'a>(&'a self, p: &Part, base: &'a [u8], r: Range<usize>) -> &'a [u8] {
        match p.from {
            Source::Own(s) => &self.own[s + r.start..s + r.end],
            Source::Base(s) => &base[s + r.start..s + r.end],
        }
    }

    /// Copies the zip's bytes from `pos` into `buf`; how many (0 at the end).
    pub fn read_at(&self, base: &[u8], pos: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        let mut i = self.parts.partition_point(|p| p.end() <= pos);
        while done < buf.len() {
            let Some(p) = self.parts.get(i) else { break };
            let skip = (pos + done as u64 - p.at) as usize;
            let n = (p.len - skip).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(self.slice(p, base, skip..skip + n));
            done += n;
            i += 1;
        }
        done
    }

    /// The bytes at `range` of the zip as one or two slices (first, rest): the rewrite writes a
    /// file as its header (own bytes) then its data (one run of the base). `None` when the range
    /// spans more runs than that or passes the end.
    pub fn split_at_range<'a>(
        &'a self,
        base: &'a [u8],
        range: Range<u64>,
    ) -> Option<(&'a [u8], &'a [u8])> {
        let i = self.parts.partition_point(|p| p.end() <= range.start);
        let mut pieces = Vec::with_capacity(2);
        let mut at = range.start;
        for p in self.parts.get(i..)? {
            if at >= range.end {
                break;
            }
            let skip = (at - p.at) as usize;
            let end = (range.end.min(p.end()) - p.at) as usize;
            pieces.push(self.slice(p, base, skip..end));
            at = p.at + end as u64;
        }
        match (at == range.end, pieces.as_slice()) {
            (true, []) => Some((&[], &[])),
            (true, [one]) => Some((&[], one)),
            (true, [first, rest]) => Some((first, rest)),
            _ => None,
        }
    }
}

/// Bytes that can be read at any position.
pub trait ReadAt {
    /// Their number.
    fn size(&self) -> u64;
    /// Copies the bytes from `pos` into `buf`; how many (0 at the end).
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> usize;
}

impl ReadAt for (&Layout, &[u8]) {
    fn size(&self) -> u64 {
        self.0.len()
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> usize {
        self.0.read_at(self.1, pos, buf)
    }
}

/// A reader over [`ReadAt`] bytes, with a position.
#[derive(Debug, Clone)]
pub struct At<T> {
    inner: T,
    pos: u64,
}

impl<T> At<T> {
    /// A reader at the start of `inner`.
    pub fn new(inner: T) -> At<T> {
        At { inner, pos: 0 }
    }
}

impl<T: ReadAt> Read for At<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read_at(self.pos, buf);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<T: ReadAt> Seek for At<T> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.inner.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::other("a seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` (header, data range of `base`) into a stored zip through a composer.
    fn compose(base: &[u8], files: &[(Vec<u8>, Range<usize>)]) -> Layout {
        let mut zip = zip::ZipWriter::new(Composer::new(base, 1024));
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (k, (head, data)) in files.iter().enumerate() {
            zip.start_file(format!("1/{k:06}.dcm"), o).unwrap();
            zip.write_all(head).unwrap();
            for chunk in base[data.clone()].chunks(1000) {
                zip.write_all(chunk).unwrap();
            }
        }
        zip.finish().unwrap().into_layout()
    }

    fn flat(layout: &Layout, base: &[u8]) -> Vec<u8> {
        layout.slices(base).flatten().copied().collect()
    }

    #[test]
    fn a_composed_zip_reads_as_the_zip_written_and_refers_to_the_base() {
        let base: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let files = vec![
            (b"head one".to_vec(), 100..20_100),
            (Vec::new(), 0..0),
            (vec![9u8; 300], 30_000..50_000),
        ];
        let layout = compose(&base, &files);
        assert!(layout.own_len() < 2_000, "{} own bytes", layout.own_len());
        let bytes = flat(&layout, &base);
        assert_eq!(bytes.len() as u64, layout.len());
        let mut read = Vec::new();
        At::new((&layout, base.as_slice()))
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read, bytes, "read as a stream");
        let mut z = zip::ZipArchive::new(At::new((&layout, base.as_slice()))).unwrap();
        for (k, (head, data)) in files.iter().enumerate() {
            let mut f = z.by_index(k).unwrap();
            let mut got = Vec::new();
            f.read_to_end(&mut got).unwrap();
            let want = [head.as_slice(), &base[data.clone()]].concat();
            assert_eq!(got, want, "file {k}: contents and CRC-32");
            let (start, size) = (f.data_start().unwrap(), f.size());
            let (first, rest) = layout.split_at_range(&base, start..start + size).unwrap();
            assert_eq!([first, rest].concat(), want, "file {k} in pieces");
        }
        // Reads at any position and of any length give the same bytes.
        for (pos, len) in [
            (0u64, 7usize),
            (29, 4096),
            (20_000, 60_000),
            (bytes.len() as u64, 9),
        ] {
            let mut buf = vec![0u8; len];
            let n = layout.read_at(&base, pos, &mut buf);
            let from = (pos as usize).min(bytes.len());
            let want = &bytes[from..(from + len).min(bytes.len())];
            assert_eq!(&buf[..n], want, "{pos}+{len}");
        }
    }

    #[test]
    fn only_own_bytes_can_be_written_over() {
        let base = vec![1u8; 100];
        let mut c = Composer::new(&base, 16);
        c.write_all(b"abcd").unwrap();
        c.write_all(&base[10..60]).unwrap();
        c.seek(SeekFrom::Start(1)).unwrap();
        c.write_all(b"XY").unwrap();
        c.seek(SeekFrom::Start(20)).unwrap();
        let e = c.write_all(b"Z").unwrap_err();
        assert!(e.to_string().contains("pixel data"), "{e}");
        c.seek(SeekFrom::Start(99)).unwrap();
        assert!(c
            .write_all(b"Z")
            .unwrap_err()
            .to_string()
            .contains("past the end"));
        assert!(c.seek(SeekFrom::Current(-1000)).is_err());
        let layout = c.into_layout();
        assert_eq!(layout.own_len(), 4);
        assert_eq!(
            flat(&layout, &base),
            [b"aXYd".as_slice(), &base[10..60]].concat()
        );
        assert_eq!(layout.split_at_range(&base, 0..200), None);
    }
}
