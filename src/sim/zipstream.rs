//! Zip archives streamed as they are built: a thread writes the archive (zip's streaming mode, with
//! data descriptors) into a bounded channel, and the response body reads from the other end. A client
//! that goes away stops the writer at its next chunk.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

struct ChannelWriter {
    tx: SyncSender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.tx
                .send(Ok(chunk))
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "reader gone"))?;
        }
        Ok(())
    }
}

/// The reading end of a streamed archive.
pub struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Starts writing a zip of `(entry name, file on disk)` pairs; `deflate` compresses entries.
pub fn stream_zip(entries: Vec<(String, PathBuf)>, deflate: bool) -> ChannelReader {
    let (tx, rx) = sync_channel(8);
    let err_tx = tx.clone();
    std::thread::spawn(move || {
        if let Err(e) = write_zip(entries, deflate, tx) {
            // The reader sees the error and cuts the response short.
            let _ = err_tx.send(Err(e));
        }
    });
    ChannelReader {
        rx,
        chunk: Vec::new(),
        pos: 0,
    }
}

fn write_zip(
    entries: Vec<(String, PathBuf)>,
    deflate: bool,
    tx: SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<()> {
    let w = ChannelWriter {
        tx,
        buf: Vec::new(),
    };
    let mut zip = zip::ZipWriter::new_stream(w);
    let method = if deflate {
        CompressionMethod::Deflated
    } else {
        CompressionMethod::Stored
    };
    let options = SimpleFileOptions::default()
        .compression_method(method)
        .large_file(false);
    for (name, path) in entries {
        let mut f = std::fs::File::open(&path)?;
        zip.start_file(name, options).map_err(io::Error::other)?;
        io::copy(&mut f, &mut zip)?;
    }
    let mut inner = zip.finish().map_err(io::Error::other)?;
    inner.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_zip_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        std::fs::write(&a, b"hello").unwrap();
        let mut r = stream_zip(
            vec![("x/a.txt".into(), a.clone()), ("y/a.txt".into(), a)],
            true,
        );
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes).unwrap();
        let mut z = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
        assert_eq!(z.len(), 2);
        let mut s = String::new();
        z.by_name("y/a.txt")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
    }

    #[test]
    fn a_missing_file_is_an_error_for_the_reader() {
        let mut r = stream_zip(vec![("x".into(), PathBuf::from("/nonexistent/x"))], false);
        let mut bytes = Vec::new();
        assert!(r.read_to_end(&mut bytes).is_err());
    }
}
