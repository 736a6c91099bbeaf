//! The MD5s of a session's small files, taken several at a time. MD5 is serial within one file, so one
//! core hashes one small file no faster than a large one; independent files can share the core's
//! SIMD lanes instead ([`crate::digest::md5_many`]). The rewrite keeps each small file's bytes here
//! (at most [`MAX_WAITING_BYTES`] in all) until enough have come to fill the lanes; a file larger than
//! [`SMALL`] is hashed as it streams, as before.

use super::composed::{At, Layout};
use std::collections::BTreeMap;

/// The largest file (as the source zip announces it) that waits here for its MD5.
pub const SMALL: u64 = 1024 * 1024;

/// At most this many bytes wait at once; then they are hashed.
pub const MAX_WAITING_BYTES: usize = 4 * 1024 * 1024;

/// At most this many files wait at once: enough to fill 16 lanes twice.
pub const MAX_WAITING_FILES: usize = 32;

/// Files waiting for their MD5, each with what its caller needs back (`T`), in the order they came.
pub struct Md5Batch<T> {
    waiting: Vec<(Vec<u8>, T)>,
    bytes: usize,
    /// Buffers of files already hashed, handed out again so that each file does not allocate (and
    /// the allocator map and unmap) one of its own.
    spare: Vec<Vec<u8>>,
}

impl<T> Default for Md5Batch<T> {
    fn default() -> Self {
        Md5Batch {
            waiting: Vec::new(),
            bytes: 0,
            spare: Vec::new(),
        }
    }
}

/// Whether a file the source announces at `size` bytes waits in a batch (else it is hashed as it
/// streams).
pub fn takes(size: u64) -> bool {
    size <= SMALL
}

impl<T> Md5Batch<T> {
    /// An empty buffer for the next file, holding at least `size` bytes without growing.
    pub fn buffer(&mut self, size: usize) -> Vec<u8> {
        let mut b = self.spare.pop().unwrap_or_default();
        b.reserve(size);
        b
    }

    /// Adds a whole file. When the batch is full, hashes every waiting file and returns them, in the
    /// order they came, with their MD5 in lower-case hex; else returns nothing yet.
    pub fn push(&mut self, file: Vec<u8>, item: T) -> Vec<(String, T)> {
        self.bytes += file.len();
        self.waiting.push((file, item));
        if self.bytes >= MAX_WAITING_BYTES || self.waiting.len() >= MAX_WAITING_FILES {
            self.flush()
        } else {
            Vec::new()
        }
    }

    /// Hashes every waiting file and returns them, in the order they came, with their MD5.
    pub fn flush(&mut self) -> Vec<(String, T)> {
        let waiting = std::mem::take(&mut self.waiting);
        self.bytes = 0;
        let files: Vec<&[u8]> = waiting.iter().map(|(f, _)| f.as_slice()).collect();
        let digests = crate::digest::md5_many(&files);
        let mut done = Vec::with_capacity(waiting.len());
        let mut kept: usize = self.spare.iter().map(|b| b.capacity()).sum();
        for ((mut file, item), d) in waiting.into_iter().zip(digests) {
            // Spare buffers hold no more than one full batch does.
            if kept + file.capacity() <= MAX_WAITING_BYTES + SMALL as usize {
                kept += file.capacity();
                file.clear();
                self.spare.push(file);
            }
            done.push((crate::digest::hex(&d), item));
        }
        done
    }
}

/// The MD5 of every entry of an upload zip composed in memory (as the rewrite builds it), by entry
/// name, hex, taken in SIMD lanes where the bytes lie: a file's rewritten header and its data from the
/// download zip are hashed as one message without being put together.
pub fn md5s_of_composed(
    layout: &Layout,
    base: &[u8],
) -> zip::result::ZipResult<BTreeMap<String, String>> {
    let not_whole =
        || zip::result::ZipError::InvalidArchive("an entry is not stored whole in the zip".into());
    let mut archive = zip::ZipArchive::new(At::new((layout, base)))?;
    let mut names = Vec::with_capacity(archive.len());
    let mut files = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i)?;
        let range = super::entries::stored_range(&entry).ok_or_else(not_whole)?;
        let pieces = layout.split_at_range(base, range).ok_or_else(not_whole)?;
        names.push(entry.name()?.to_string());
        files.push(pieces);
    }
    let digests = crate::digest::md5lanes::md5_many_split(&files);
    Ok(names
        .into_iter()
        .zip(digests)
        .map(|(n, d)| (n, crate::digest::hex(&d)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::composed::Composer;

    fn md5_hex(bytes: &[u8]) -> String {
        crate::digest::hex(&<md5::Md5 as md5::Digest>::digest(bytes))
    }

    #[test]
    fn every_file_gets_its_own_md5_in_the_order_it_came() {
        let mut batch = Md5Batch::default();
        let mut out = Vec::new();
        let files: Vec<Vec<u8>> = (0..100usize)
            .map(|i| (0..i * 997 % 70_000).map(|j| (i * 31 + j) as u8).collect())
            .collect();
        for (i, f) in files.iter().enumerate() {
            let mut b = batch.buffer(f.len());
            b.extend_from_slice(f);
            out.extend(batch.push(b, i));
        }
        assert!(!out.is_empty(), "a full batch is hashed before the end");
        assert!(out.len() < files.len());
        out.extend(batch.flush());
        assert_eq!(out.len(), files.len());
        for (n, (md5, i)) in out.iter().enumerate() {
            assert_eq!(*i, n);
            assert_eq!(md5, &md5_hex(&files[*i]));
        }
        assert!(batch.flush().is_empty());
    }

    #[test]
    fn the_batch_holds_no_more_than_its_byte_bound() {
        let mut batch = Md5Batch::default();
        let file = vec![7u8; (SMALL as usize) - 1];
        let mut held = 0usize;
        for i in 0..10 {
            let mut b = batch.buffer(file.len());
            b.extend_from_slice(&file);
            let done = batch.push(b, i);
            held = if done.is_empty() { held + 1 } else { 0 };
            assert!(held * file.len() < MAX_WAITING_BYTES, "{held} files held");
            let spare: usize = batch.spare.iter().map(|b| b.capacity()).sum();
            assert!(
                spare <= MAX_WAITING_BYTES + SMALL as usize,
                "{spare} bytes spare"
            );
        }
        assert!(takes(SMALL));
        assert!(!takes(SMALL + 1));
        // Tiny files are hashed once MAX_WAITING_FILES of them wait.
        let mut batch = Md5Batch::default();
        for i in 0..MAX_WAITING_FILES - 1 {
            assert!(batch.push(vec![i as u8; 10], i).is_empty());
        }
        assert_eq!(batch.push(vec![0; 10], 99).len(), MAX_WAITING_FILES);
    }

    #[test]
    fn the_md5s_of_a_composed_zip_are_taken_in_place_and_a_compressed_one_is_refused() {
        let files: Vec<(String, Vec<u8>)> = (0..40usize)
            .map(|i| {
                (
                    format!("1/{i:06}.dcm"),
                    (0..i * 4099).map(|j| (i + j) as u8).collect(),
                )
            })
            .collect();
        // The files' data lie in a base buffer; their one-byte headers are the zip's own.
        let base: Vec<u8> = files
            .iter()
            .flat_map(|(_, b)| b[1.min(b.len())..].to_vec())
            .collect();
        let zip_with = |method| {
            let mut z = zip::ZipWriter::new(Composer::new(&base, 0));
            let o = zip::write::SimpleFileOptions::default().compression_method(method);
            let mut at = 0;
            for (n, b) in &files {
                z.start_file(n.as_str(), o).unwrap();
                let head = 1.min(b.len());
                std::io::Write::write_all(&mut z, &b[..head]).unwrap();
                let data = &base[at..at + b.len() - head];
                std::io::Write::write_all(&mut z, data).unwrap();
                at += data.len();
            }
            z.finish().unwrap().into_layout()
        };
        let stored = zip_with(zip::CompressionMethod::Stored);
        assert!(
            stored.own_len() < base.len() / 10,
            "the data stay in the base"
        );
        let got = md5s_of_composed(&stored, &base).unwrap();
        assert_eq!(got.len(), files.len());
        for (n, b) in &files {
            assert_eq!(got[n], md5_hex(b), "{n}");
        }
        let deflated = zip_with(zip::CompressionMethod::Deflated);
        let e = md5s_of_composed(&deflated, &base).unwrap_err();
        assert!(e.to_string().contains("not stored whole"), "{e}");
    }
}
