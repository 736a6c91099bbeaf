//! A small HTTP/1.1 server for the emulator: a listener thread hands each connection to a fixed pool of
//! worker threads, which parse requests (with keep-alive, `Content-Length` or chunked bodies and
//! `Expect: 100-continue`), call the handler and write its response.
//!
//! It is our own rather than a crate's because fault injection needs control of the socket: a dropped
//! response declares its full length, sends part of the body and then shuts the connection down.
//! Malformed input never panics: a bad request line, oversized or invalid headers or a broken body get
//! `400`/`431` and the connection is closed.
//!
//! It must never know about XNAT: routing and state live in the caller's handler.

use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::link::{Link, Metered};

mod read;
use read::{read_request, ReadFail};

/// A connection's read side: metered by the emulator's link, buffered.
type Reader = BufReader<Metered<TcpStream>>;

/// What every worker shares: the link and the count of requests answered.
struct Shared {
    link: Arc<Link>,
    served: Arc<AtomicU64>,
}

impl Shared {
    fn new(link: Arc<Link>, served: Arc<AtomicU64>) -> Shared {
        Shared { link, served }
    }
}

/// Largest request head (request line and headers) accepted, in bytes.
const MAX_HEAD: usize = 64 * 1024;
/// How often an idle worker looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);
/// How long a keep-alive connection may stay idle between requests.
const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// How long a client may take to send one request once it started.
const REQUEST_LIMIT: Duration = Duration::from_secs(120);

/// One parsed HTTP request.
#[derive(Debug)]
pub struct Request {
    /// The method as sent (`GET`, `PUT`, ...).
    pub method: String,
    /// The path part of the target, still percent-encoded.
    pub path: String,
    /// The query string (without `?`), still percent-encoded.
    pub query: String,
    /// Header names (lower-case) and values in order.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response body.
pub enum Body {
    /// Bytes known in full.
    Bytes(Vec<u8>),
    /// A stream of known length (a file on disk).
    Sized(Box<dyn Read + Send>, u64),
    /// A stream of unknown length, sent chunked.
    Stream(Box<dyn Read + Send>),
}

/// A response to write.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Extra headers (`Content-Length`, `Transfer-Encoding` and `Connection` are written by the server).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// Fault injection: send the head and part of the body, then cut the connection.
    pub drop_body: bool,
}

impl Response {
    /// A response with a body of bytes and a content type.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Bytes(body),
            drop_body: false,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// A running server; stopping it waits for the threads to finish.
pub struct Server {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    port: u16,
    threads: Vec<JoinHandle<()>>,
}

/// The handler the server calls for every request.
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

impl Server {
    /// Binds `127.0.0.1:port` (0 = any free port) and starts `workers` worker threads; every byte
    /// of every connection passes `link`.
    pub fn start(
        port: u16,
        workers: usize,
        handler: Handler,
        link: Arc<Link>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let (tx, rx) = sync_channel::<TcpStream>(4096);
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        for i in 0..workers.max(1) {
            let (rx, stop, handler) = (rx.clone(), stop.clone(), handler.clone());
            let shared = Shared::new(link.clone(), served.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("sim-worker-{i}"))
                    .spawn(move || worker(rx, stop, handler, shared))?,
            );
        }
        let stop2 = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name("sim-accept".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop2.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Ok(c) = conn {
                            if tx.send(c).is_err() {
                                break;
                            }
                        }
                    }
                })?,
        );
        Ok(Server {
            stop,
            served,
            port,
            threads,
        })
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting, lets in-flight requests finish, and joins every thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop with a connection of our own.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn worker(
    rx: Arc<Mutex<Receiver<TcpStream>>>,
    stop: Arc<AtomicBool>,
    handler: Handler,
    shared: Shared,
) {
    loop {
        let conn = {
            let Ok(guard) = rx.lock() else { return };
            if stop.load(Ordering::SeqCst) {
                return;
            }
            match guard.recv_timeout(POLL) {
                Ok(c) => Some(c),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(_) => return,
            }
        };
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Some(c) = conn {
            serve_connection(c, &stop, &handler, &shared);
        }
    }
}

fn serve_connection(stream: TcpStream, stop: &AtomicBool, handler: &Handler, conn: &Shared) {
    let link = &conn.link;
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(Metered::new(stream, link.clone()));
    let mut writer = write_half;
    loop {
        let req = match read_request(&mut reader, &mut writer, stop) {
            Ok(r) => r,
            Err(ReadFail::Closed) => break,
            Err(ReadFail::Bad(status)) => {
                let msg = format!("bad request ({status})");
                let resp = Response::bytes(status, "text/plain", msg.into_bytes());
                let _ = write_response(&mut writer, link, resp, true, false);
                break;
            }
        };
        let (req, keep_alive, head_only) = req;
        let resp = handler(req);
        conn.served.fetch_add(1, Ordering::Relaxed);
        let close = !keep_alive || resp.drop_body || stop.load(Ordering::SeqCst);
        match write_response(&mut writer, link, resp, close, head_only) {
            Ok(true) => {}
            _ => break,
        }
        if close {
            break;
        }
    }
    let _ = writer.flush();
    let _ = writer.shutdown(Shutdown::Both);
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        417 => "Expectation Failed",
        423 => "Locked",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a response; `Ok(false)` when the connection must not be reused.
fn write_response(
    w: &mut TcpStream,
    link: &Arc<Link>,
    resp: Response,
    close: bool,
    head_only: bool,
) -> io::Result<bool> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (n, v) in &resp.headers {
        let clean = |s: &str| s.replace(['\r', '\n'], " ");
        head.push_str(&format!("{}: {}\r\n", clean(n), clean(v)));
    }
    let (mut reader, len): (Box<dyn Read + Send>, Option<u64>) = match resp.body {
        Body::Bytes(b) => {
            let n = b.len() as u64;
            (Box::new(io::Cursor::new(b)), Some(n))
        }
        Body::Sized(r, n) => (r, Some(n)),
        Body::Stream(r) => (r, None),
    };
    match len {
        Some(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        None => head.push_str("Transfer-Encoding: chunked\r\n"),
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = io::BufWriter::with_capacity(64 * 1024, Metered::new(&mut *w, link.clone()));
    out.write_all(head.as_bytes())?;
    if head_only {
        out.flush()?;
        return Ok(!close);
    }
    if resp.drop_body {
        // Send about half of the body, then cut the connection.
        let cut = len.map(|n| n / 2).unwrap_or(16 * 1024);
        let mut limited = reader.take(cut);
        if len.is_some() {
            io::copy(&mut limited, &mut out)?;
        } else {
            copy_chunked(&mut limited, &mut out, false)?;
        }
        out.flush()?;
        drop(out);
        let _ = w.shutdown(Shutdown::Both);
        return Ok(false);
    }
    match len {
        Some(n) => {
            let copied = io::copy(&mut (&mut reader).take(n), &mut out)?;
            if copied < n {
                // The source ended early: the declared length cannot be honoured, so cut.
                out.flush()?;
                return Ok(false);
            }
        }
        None => copy_chunked(&mut reader, &mut out, true)?,
    }
    out.flush()?;
    Ok(!close)
}

fn copy_chunked(r: &mut dyn Read, w: &mut dyn Write, finish: bool) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        write!(w, "{n:x}\r\n")?;
        w.write_all(&buf[..n])?;
        w.write_all(b"\r\n")?;
    }
    if finish {
        w.write_all(b"0\r\n\r\n")?;
    }
    Ok(())
}
