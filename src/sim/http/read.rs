//! Reading one request off a connection: the head (request line and headers, within
//! [`MAX_HEAD`]) and the body, sized or chunked, answering `Expect: 100-continue` first. Every
//! malformed input is a [`ReadFail::Bad`] with the status to answer, never a panic.

use super::{Reader, Request, IDLE_LIMIT, MAX_HEAD, REQUEST_LIMIT};
use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What went wrong while reading a request.
pub enum ReadFail {
    /// The client went away or stayed idle: close quietly.
    Closed,
    /// The request is malformed: answer with this status and close.
    Bad(u16),
}

type Parsed = (Request, bool, bool);

pub fn read_request(
    reader: &mut Reader,
    writer: &mut TcpStream,
    stop: &AtomicBool,
) -> Result<Parsed, ReadFail> {
    let head = read_head(reader, stop)?;
    let text = std::str::from_utf8(&head).map_err(|_| ReadFail::Bad(400))?;
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadFail::Bad(400));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(ReadFail::Bad(400)),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ReadFail::Bad(400));
    }
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            continue;
        }
        let (n, v) = l.split_once(':').ok_or(ReadFail::Bad(400))?;
        if n.is_empty() || n.contains(' ') {
            return Err(ReadFail::Bad(400));
        }
        headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let conn = get("connection").unwrap_or_default();
    let keep_alive = if http10 {
        conn.contains("keep-alive")
    } else {
        !conn.contains("close")
    };
    if get("expect").is_some_and(|e| e.contains("100-continue")) {
        let _ = writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let body = if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        read_chunked(reader, stop)?
    } else if let Some(len) = get("content-length") {
        let len: u64 = len.trim().parse().map_err(|_| ReadFail::Bad(400))?;
        read_exact(reader, len, stop)?
    } else {
        Vec::new()
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let head_only = method == "HEAD";
    let req = Request {
        method: method.to_string(),
        path,
        query,
        headers,
        body,
    };
    Ok((req, keep_alive, head_only))
}

/// Reads up to and including the blank line that ends a request head.
fn read_head(reader: &mut Reader, stop: &AtomicBool) -> Result<Vec<u8>, ReadFail> {
    let mut head = Vec::new();
    let started = Instant::now();
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if timed_out(&e) => {
                let limit = if head.is_empty() {
                    IDLE_LIMIT
                } else {
                    REQUEST_LIMIT
                };
                if stop.load(Ordering::SeqCst) || started.elapsed() > limit {
                    return Err(ReadFail::Closed);
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadFail::Closed),
        };
        if buf.is_empty() {
            return Err(ReadFail::Closed);
        }
        // Skip blank lines sent before a request (allowed by RFC 9112).
        let mut used = 0;
        let mut done = false;
        for &b in buf {
            used += 1;
            if head.is_empty() && (b == b'\r' || b == b'\n') {
                continue;
            }
            head.push(b);
            if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
                done = true;
                break;
            }
        }
        reader.consume(used);
        if done {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(ReadFail::Bad(431));
        }
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn read_exact(reader: &mut Reader, len: u64, stop: &AtomicBool) -> Result<Vec<u8>, ReadFail> {
    let mut body = Vec::with_capacity(len.min(64 * 1024 * 1024) as usize);
    let mut buf = [0u8; 64 * 1024];
    let started = Instant::now();
    while (body.len() as u64) < len {
        let want = (len - body.len() as u64).min(buf.len() as u64) as usize;
        match reader.read(&mut buf[..want]) {
            Ok(0) => return Err(ReadFail::Closed),
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if stop.load(Ordering::SeqCst) || started.elapsed() > REQUEST_LIMIT {
                    return Err(ReadFail::Closed);
                }
            }
            Err(_) => return Err(ReadFail::Closed),
        }
    }
    Ok(body)
}

fn read_line(reader: &mut Reader, stop: &AtomicBool) -> Result<String, ReadFail> {
    let mut line = Vec::new();
    let started = Instant::now();
    loop {
        let mut byte = [0u8; 1];
        match reader.read(&mut byte) {
            Ok(0) => return Err(ReadFail::Closed),
            Ok(_) => {
                if byte[0] == b'\n' {
                    let s = String::from_utf8(line).map_err(|_| ReadFail::Bad(400))?;
                    return Ok(s.trim_end_matches('\r').to_string());
                }
                line.push(byte[0]);
                if line.len() > 4096 {
                    return Err(ReadFail::Bad(400));
                }
            }
            Err(e) if timed_out(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if stop.load(Ordering::SeqCst) || started.elapsed() > REQUEST_LIMIT {
                    return Err(ReadFail::Closed);
                }
            }
            Err(_) => return Err(ReadFail::Closed),
        }
    }
}

fn read_chunked(reader: &mut Reader, stop: &AtomicBool) -> Result<Vec<u8>, ReadFail> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, stop)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size, 16).map_err(|_| ReadFail::Bad(400))?;
        if size == 0 {
            // Trailers, up to the blank line.
            while !read_line(reader, stop)?.is_empty() {}
            return Ok(body);
        }
        body.extend(read_exact(reader, size, stop)?);
        if !read_line(reader, stop)?.is_empty() {
            return Err(ReadFail::Bad(400));
        }
    }
}
