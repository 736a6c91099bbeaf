//! One server connection: a ureq agent, the login session (JSESSIONID, obtained once and reused), a
//! limit on requests in flight, and retries with exponential backoff and jitter for requests that may
//! be repeated. Every status is turned into a typed [`XnatError`] here.

use super::credentials::{Credentials, Secret};
use super::slots::Slots;
use super::{ClientOptions, XnatError};
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

/// The body of a request.
pub(crate) enum Payload<'a> {
    /// No body.
    Empty,
    /// A streamed body with its content type and length.
    Stream(&'a mut dyn Read, &'static str, u64),
}

/// A connection to one server.
pub(crate) struct Http {
    pub name: String,
    pub base: String,
    agent: ureq::Agent,
    creds: Credentials,
    session: Mutex<Option<Secret>>,
    slots: Slots,
    opts: ClientOptions,
}

/// Whether a request may be sent again after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// GET, PUT, DELETE: repeating them is harmless.
    Idempotent,
    /// POST to a service: never repeated blindly.
    Once,
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// The first lines of a server's error page, without markup, for messages.
fn gist(body: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut s = words.join(" ");
    if s.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The certificates of a PEM file of certificate authorities.
fn read_ca_bundle(
    path: &std::path::Path,
) -> Result<Vec<ureq::tls::Certificate<'static>>, XnatError> {
    let bad = |detail: String| XnatError::Io {
        action: "read the CA bundle",
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, detail),
    };
    let pem = std::fs::read(path).map_err(|source| XnatError::Io {
        action: "read the CA bundle",
        path: path.display().to_string(),
        source,
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| bad(format!("not a PEM file: {e}")))? {
            ureq::tls::PemItem::Certificate(c) => certs.push(c),
            _ => continue,
        }
    }
    if certs.is_empty() {
        return Err(bad("it holds no PEM certificate".into()));
    }
    Ok(certs)
}

impl Http {
    pub fn new(
        name: &str,
        url: &str,
        creds: Credentials,
        opts: ClientOptions,
    ) -> Result<Http, XnatError> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &opts.ca_bundle {
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(
                read_ca_bundle(path)?,
            )));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_recv_response(Some(opts.read_timeout))
            .timeout_recv_body(None)
            .timeout_per_read(Some(opts.read_timeout))
            .user_agent(format!("xnat-ferry/{}", crate::VERSION))
            .build()
            .into();
        Ok(Http {
            name: name.to_string(),
            base: url.trim_end_matches('/').to_string(),
            agent,
            creds,
            session: Mutex::new(None),
            slots: Slots::new(opts.max_in_flight),
            opts,
        })
    }

    fn backoff(&self, attempt: u32) {
        let base = self.opts.backoff_base.as_millis() as u64;
        let exp = base.saturating_mul(1 << attempt.min(6)).min(5_000);
        let jitter = fastrand::u64(0..=exp / 2 + 1);
        std::thread::sleep(Duration::from_millis(exp / 2 + jitter));
    }

    /// Logs in with the credentials and keeps the session cookie.
    pub fn login(&self) -> Result<(), XnatError> {
        let what = "logging in (POST /data/JSESSION)";
        let mut attempt = 0;
        loop {
            let r = {
                let _p = self.slots.acquire();
                self.agent
                    .post(format!("{}/data/JSESSION", self.base))
                    .header(
                        "Authorization",
                        basic(&self.creds.user, self.creds.password.expose()),
                    )
                    .send_empty()
            };
            match r {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.body_mut().read_to_string().unwrap_or_default();
                    if status == 401 || status == 403 {
                        return Err(XnatError::Auth {
                            server: self.name.clone(),
                            request: "POST /data/JSESSION".into(),
                        });
                    }
                    if (200..300).contains(&status)
                        && !body.trim().is_empty()
                        && !body.contains('<')
                    {
                        *self.session.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(Secret::new(body.trim()));
                        return Ok(());
                    }
                    if status >= 500 && attempt < self.opts.retries {
                        attempt += 1;
                        self.backoff(attempt);
                        continue;
                    }
                    return Err(self.status_error(status, what, &body, attempt + 1));
                }
                Err(e) => {
                    let err = self.network(what, attempt + 1, &e);
                    if attempt < self.opts.retries && err.is_retryable() {
                        attempt += 1;
                        self.backoff(attempt);
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }

    /// Ends the login session.
    pub fn logout(&self) {
        let session = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(s) = session {
            let _ = self
                .agent
                .delete(format!("{}/data/JSESSION", self.base))
                .header("Cookie", format!("JSESSIONID={}", s.expose()))
                .call();
        }
    }

    fn network(&self, what: &str, attempts: u32, e: &dyn std::fmt::Display) -> XnatError {
        XnatError::Network {
            server: self.name.clone(),
            url: self.base.clone(),
            what: what.to_string(),
            attempts,
            detail: e.to_string(),
        }
    }

    pub fn status_error(&self, status: u16, what: &str, body: &str, attempts: u32) -> XnatError {
        let server = self.name.clone();
        let what = what.to_string();
        match status {
            401 => XnatError::Auth {
                server,
                request: what,
            },
            403 => XnatError::Forbidden { server, what },
            404 => XnatError::NotFound { server, what },
            500..=599 => XnatError::Server {
                server,
                status,
                what,
                attempts,
            },
            _ => XnatError::Refused {
                server,
                status,
                what,
                message: gist(body),
            },
        }
    }

    /// Sends one request with the session cookie, without looking at the answer's status.
    fn send_once(
        &self,
        method: &str,
        path: &str,
        what: &str,
        attempt: u32,
        payload: &mut Payload<'_>,
    ) -> Result<ureq::http::Response<ureq::Body>, XnatError> {
        let cookie = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| format!("JSESSIONID={}", s.expose()));
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(c) = &cookie {
            b = b.header("Cookie", c);
        }
        let net = |e: &dyn std::fmt::Display| self.network(what, attempt, e);
        match payload {
            Payload::Empty => {
                let req = b.body(()).map_err(|e| net(&e))?;
                self.agent.run(req).map_err(|e| net(&e))
            }
            Payload::Stream(reader, ctype, len) => {
                let req = b
                    .header("Content-Type", *ctype)
                    .header("Content-Length", len.to_string())
                    .body(ureq::SendBody::from_reader(reader))
                    .map_err(|e| net(&e))?;
                self.agent.run(req).map_err(|e| net(&e))
            }
        }
    }

    /// Sends one request and hands the successful response to `read`, retrying the whole exchange
    /// (reading included) on transient failures when the request allows it.
    pub fn exchange<T>(
        &self,
        method: &str,
        path: &str,
        what: &str,
        retry: Retry,
        mut payload: Payload<'_>,
        mut read: impl FnMut(&mut ureq::http::Response<ureq::Body>) -> Result<T, XnatError>,
    ) -> Result<T, XnatError> {
        let mut attempt: u32 = 0;
        let mut relogged = false;
        loop {
            attempt += 1;
            let may_retry = retry == Retry::Idempotent && attempt <= self.opts.retries;
            let permit = self.slots.acquire();
            let result = self.send_once(method, path, what, attempt, &mut payload);
            let mut resp = match result {
                Ok(r) => r,
                Err(e) if may_retry && e.is_retryable() => {
                    drop(permit);
                    self.backoff(attempt);
                    let _ = e;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                let out = read(&mut resp);
                drop(permit);
                match out {
                    Err(e) if e.is_retryable() && may_retry => {
                        self.backoff(attempt);
                        continue;
                    }
                    other => return other,
                }
            }
            let body = resp
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_string()
                .unwrap_or_default();
            drop(permit);
            if status == 401 && !relogged && matches!(payload, Payload::Empty) {
                relogged = true;
                self.login()?;
                attempt -= 1;
                continue;
            }
            let retryable_status = matches!(status, 500 | 502 | 503 | 504);
            if retryable_status && may_retry {
                self.backoff(attempt);
                continue;
            }
            return Err(self.status_error(status, what, &body, attempt));
        }
    }

    /// A GET, retried like every idempotent read; `read` takes the answer as in [`Self::exchange`].
    pub fn get<T>(
        &self,
        path: &str,
        what: &str,
        read: impl FnMut(&mut ureq::http::Response<ureq::Body>) -> Result<T, XnatError>,
    ) -> Result<T, XnatError> {
        self.exchange("GET", path, what, Retry::Idempotent, Payload::Empty, read)
    }

    /// A GET whose answer is JSON.
    pub fn get_json(&self, path: &str, what: &str) -> Result<serde_json::Value, XnatError> {
        self.get_json_as(path, what)
    }

    /// [`Http::get_json`] read straight into the type `T` (fields `T` does not name are skipped).
    pub fn get_json_as<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<T, XnatError> {
        self.get(path, what, |resp| {
            let text = resp
                .body_mut()
                .with_config()
                .limit(512 * 1024 * 1024)
                .read_to_string()
                .map_err(|e| self.network(what, 1, &e))?;
            if text.trim_start().starts_with('<') {
                return Err(XnatError::BadResponse {
                    server: self.name.clone(),
                    what: what.to_string(),
                    detail: "an HTML page instead of JSON".into(),
                });
            }
            serde_json::from_str(&text).map_err(|e| XnatError::BadResponse {
                server: self.name.clone(),
                what: what.to_string(),
                detail: format!("not JSON: {e}"),
            })
        })
    }

    /// A request whose answer body does not matter.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        what: &str,
        retry: Retry,
    ) -> Result<String, XnatError> {
        self.exchange(method, path, what, retry, Payload::Empty, |resp| {
            Ok(resp
                .body_mut()
                .with_config()
                .limit(1024 * 1024)
                .read_to_string()
                .unwrap_or_default())
        })
    }

    /// A transport error while reading a body, classified for retry.
    pub fn read_error(&self, what: &str, e: &dyn std::fmt::Display) -> XnatError {
        self.network(what, 1, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_encoded() {
        assert_eq!(basic("admin", "admin"), "Basic YWRtaW46YWRtaW4=");
        assert_eq!(basic("a", "bc"), "Basic YTpiYw==");
    }

    #[test]
    fn error_pages_are_shortened_to_text() {
        assert_eq!(
            gist("<html><body><h1>Oops</h1> bad  thing</body></html>"),
            "Oops bad thing"
        );
        assert!(gist(&"x".repeat(500)).len() <= 204);
    }
}
