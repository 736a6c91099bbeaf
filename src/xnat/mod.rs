//! The XNAT client: the only code in ferry that speaks HTTP. It logs in once per server, reads a
//! project's inventory with a bounded number of requests in flight, streams zips to and from disk, and
//! turns every answer into data or a typed error that names the server, the request and the object.
//!
//! Secrets never leave [`credentials`]: errors, logs and `Debug` output show no password, token or
//! session cookie.

pub mod credentials;
mod digests;
mod error;
mod http;
mod item_doc;
mod items;
mod json;
mod moves;
mod objects;
mod prearchive;
mod reader;
mod resources;
mod session_reader;
mod settings;
mod slots;
mod transfer;

pub use error::XnatError;
pub use items::{CatalogRef, ExperimentItem, ScanMeta, SubjectHoldings};
pub use moves::SessionRef;
pub use resources::{resource_path_of, FetchedFile, ResourceRef};
pub use transfer::{Downloaded, ImportOutcome, ImportTarget, Landing, Overwrite, ZipBody};

use crate::manifest::model::Server;
use std::time::Duration;

/// How a client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Requests in flight to the server at once.
    pub max_in_flight: usize,
    /// Extra attempts for a request that may be repeated.
    pub retries: u32,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Time a response may stay silent.
    pub read_timeout: Duration,
    /// The first backoff between attempts (doubled each time, with jitter).
    pub backoff_base: Duration,
    /// A PEM file of certificate authorities to trust instead of the bundled Mozilla roots, for
    /// sites with their own CA (default: the `FERRY_CA_BUNDLE` variable). Verification itself is
    /// never switched off.
    pub ca_bundle: Option<std::path::PathBuf>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            max_in_flight: 4,
            retries: 6,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            backoff_base: Duration::from_millis(50),
            ca_bundle: std::env::var_os("FERRY_CA_BUNDLE")
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from),
        }
    }
}

/// What to read into an inventory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InventoryOptions {
    /// Read the header of the first DICOM file of each session (for `dicom.*` templates and PHI
    /// findings).
    pub headers: bool,
}

/// Progress of a long read, in units of work.
pub trait Progress: Sync {
    /// The total is known (or grew).
    fn total(&self, n: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn total(&self, _n: u64) {}
    fn advance(&self, _n: u64) {}
}

/// A logged-in connection to one XNAT server. Share it between threads with an `Arc`.
pub struct Client {
    http: http::Http,
    opts: ClientOptions,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.http.name)
            .field("url", &self.http.base)
            .finish()
    }
}

/// What a path segment or query value keeps unescaped: letters, digits and `-_.~` (RFC 3986
/// unreserved).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

impl Client {
    /// Resolves the server's credentials and logs in.
    pub fn connect(name: &str, server: &Server, opts: ClientOptions) -> Result<Client, XnatError> {
        let url = server.url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(XnatError::BadResponse {
                server: name.to_string(),
                what: "reading the server URL".into(),
                detail: format!("`{url}` is not an http(s) URL"),
            });
        }
        let creds = credentials::resolve(name, server)?;
        let http = http::Http::new(name, url, creds, opts.clone())?;
        http.login()?;
        Ok(Client { http, opts })
    }

    /// The server's name in the manifest.
    pub fn name(&self) -> &str {
        &self.http.name
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.http.base
    }

    /// Ends the login session.
    pub fn logout(&self) {
        self.http.logout();
    }

    /// The JSON answer of any path on the server (`/data/...`, `/sim/stats`), for plain clients
    /// such as the bench's baselines; ferry itself reads through the typed methods.
    pub fn get_json(&self, path: &str, what: &str) -> Result<serde_json::Value, XnatError> {
        self.http.get_json(path, what)
    }

    /// The whole body of any path on the server (a file), retried like every idempotent read.
    pub fn get_bytes(&self, path: &str, what: &str) -> Result<Vec<u8>, XnatError> {
        self.http.get(path, what, |resp| {
            resp.body_mut()
                .with_config()
                .limit(2 * 1024 * 1024 * 1024)
                .read_to_vec()
                .map_err(|e| self.http.read_error(what, &e))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_are_encoded() {
        assert_eq!(super::enc("SUB 1/2"), "SUB%201%2F2");
        assert_eq!(super::enc("a-b_c.d~e"), "a-b_c.d~e");
    }
}
