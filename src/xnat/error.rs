//! The errors of the XNAT client. Each names the server (by its manifest name), the request (method
//! and path, never a query string that could carry a secret) and the object, and most carry a hint.

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
pub enum XnatError {
    /// No credentials were found for the server.
    #[error("{server}: no credentials: {detail}")]
    NoCredentials {
        /// The server's name.
        server: String,
        /// Where ferry looked.
        detail: String,
    },
    /// The server refused the credentials.
    #[error("{server}: login refused (401) for {request}")]
    Auth {
        /// The server's name.
        server: String,
        /// Method and path.
        request: String,
    },
    /// The account lacks the role the request needs.
    #[error("{server}: 403 Forbidden {what}")]
    Forbidden {
        /// The server's name.
        server: String,
        /// What was being done (`reading project PILOT`).
        what: String,
    },
    /// The object does not exist (or the account cannot see it).
    #[error("{server}: 404 Not Found {what}")]
    NotFound {
        /// The server's name.
        server: String,
        /// What was being done.
        what: String,
    },
    /// The server refused the request as conflicting with what it holds.
    #[error("{server}: {status} {what}: {message}")]
    Refused {
        /// The server's name.
        server: String,
        /// The HTTP status.
        status: u16,
        /// What was being done.
        what: String,
        /// The server's own words, shortened.
        message: String,
    },
    /// The server failed (5xx), after retries where the request allowed them.
    #[error("{server}: server error {status} {what} (after {attempts} attempt(s))")]
    Server {
        /// The server's name.
        server: String,
        /// The HTTP status.
        status: u16,
        /// What was being done.
        what: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The server could not be reached, or the connection broke.
    #[error("{server}: cannot reach {url} {what} (after {attempts} attempt(s)): {detail}")]
    Network {
        /// The server's name.
        server: String,
        /// The server's base URL.
        url: String,
        /// What was being done.
        what: String,
        /// Attempts made.
        attempts: u32,
        /// The transport's words.
        detail: String,
    },
    /// The server answered something that is not what the API promises.
    #[error("{server}: unexpected answer {what}: {detail}")]
    BadResponse {
        /// The server's name.
        server: String,
        /// What was being done.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// A local file could not be read or written.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A zip from a server is unsafe or damaged.
    #[error("{server}: refused zip {what}: {detail}")]
    Zip {
        /// The server's name (or `local`).
        server: String,
        /// Which zip.
        what: String,
        /// What is wrong.
        detail: String,
    },
}

impl XnatError {
    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            XnatError::Network { .. } => !self.is_untrusted_certificate(),
            XnatError::Server { status, .. } => (502..=504).contains(status),
            _ => false,
        }
    }

    /// Whether the server's TLS certificate was refused: trying again will not change that.
    pub fn is_untrusted_certificate(&self) -> bool {
        matches!(self, XnatError::Network { detail, .. } if detail.contains("certificate"))
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            XnatError::NoCredentials { .. } => "set the variables the manifest's `user_env`/`password_env` (or `token_env`) name, or add the host to ~/.netrc".into(),
            XnatError::Auth { .. } => "check the user name and password (or alias token) for this server".into(),
            XnatError::Forbidden { what, .. } if what.contains("delet") => "deleting usually needs the Owner role in the project".into(),
            XnatError::Forbidden { .. } => "your account needs Member or Owner access to this project; ask its owner".into(),
            XnatError::NotFound { .. } => "check the project, subject and session labels, and that your account can see them".into(),
            XnatError::Network { .. } if self.is_untrusted_certificate() => "the server's TLS certificate is not trusted; if your site uses its own certificate authority, set FERRY_CA_BUNDLE to its PEM file (ferry never turns verification off)".into(),
            XnatError::Network { .. } => "check the server URL and your network; `ferry apply` resumes where it stopped".into(),
            XnatError::Server { .. } => "the server failed; try again later, `ferry apply` resumes where it stopped".into(),
            XnatError::BadResponse { detail, .. } if detail.contains("HTML") => "the server answered with a web page: is the URL the XNAT base URL, and does the account log in?".into(),
            _ => return None,
        })
    }
}
