//! Credentials as XNAT users keep them: an alias token or a user and password in environment
//! variables the manifest names, or an entry for the host in `~/.netrc` (`NETRC` names another file).
//! A [`Secret`] never shows its value in `Debug` or `Display`.

use super::XnatError;
use crate::manifest::model::Server;
use std::path::PathBuf;

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A user name and a password (or an alias and its secret).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user name or token alias.
    pub user: String,
    /// The password or token secret.
    pub password: Secret,
}

/// The host of a URL (`https://xnat.example.org:8443/x` -> `xnat.example.org`).
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.starts_with('[') {
        return authority
            .split(']')
            .next()
            .map(|h| &h[1..])
            .unwrap_or(authority);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Resolves the credentials of a server.
pub fn resolve(name: &str, server: &Server) -> Result<Credentials, XnatError> {
    let missing = |detail: String| XnatError::NoCredentials {
        server: name.to_string(),
        detail,
    };
    if let Some(var) = &server.token_env {
        let token = env(var).ok_or_else(|| missing(format!("`{var}` (token_env) is not set")))?;
        let (alias, secret) = token
            .split_once(':')
            .ok_or_else(|| missing(format!("`{var}` must hold `alias:secret`")))?;
        return Ok(Credentials {
            user: alias.to_string(),
            password: Secret::new(secret),
        });
    }
    if let (Some(u), Some(p)) = (&server.user_env, &server.password_env) {
        let user = env(u).ok_or_else(|| missing(format!("`{u}` (user_env) is not set")))?;
        let password = env(p).ok_or_else(|| missing(format!("`{p}` (password_env) is not set")))?;
        return Ok(Credentials {
            user,
            password: Secret::new(password),
        });
    }
    let path = netrc_path();
    let host = host_of(&server.url);
    let text = path
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    if let Some(p) = &path {
        warn_if_readable_by_others(p);
    }
    netrc_lookup(&text, host).ok_or_else(|| {
        missing(format!(
            "no user_env/password_env or token_env in the manifest, and no entry for `{host}` in {}",
            path.map(|p| p.display().to_string())
                .unwrap_or_else(|| "~/.netrc".into())
        ))
    })
}

/// Like curl, warns once (on standard error) when the netrc file can be read by the group or others:
/// it holds passwords in clear.
fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        static WARNED: std::sync::Once = std::sync::Once::new();
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            WARNED.call_once(|| {
                eprintln!(
                    "warning: `{}` holds passwords and can be read by others (mode {mode:03o}); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn netrc_path() -> Option<PathBuf> {
    if let Some(p) = env("NETRC") {
        return Some(PathBuf::from(p));
    }
    env("HOME").map(|h| PathBuf::from(h).join(".netrc"))
}

/// Finds `machine HOST login USER password PASS` (or a `default` entry) in netrc text.
pub fn netrc_lookup(text: &str, host: &str) -> Option<Credentials> {
    let mut words = text.split_whitespace();
    let mut found: Option<(Option<String>, Option<String>)> = None;
    let mut default: Option<(Option<String>, Option<String>)> = None;
    let mut current: Option<bool> = None; // Some(true) = our machine, Some(false) = default
    while let Some(w) = words.next() {
        match w {
            "machine" => {
                if found.is_some() {
                    break;
                }
                current = (words.next() == Some(host)).then_some(true);
                if current.is_some() {
                    found = Some((None, None));
                }
            }
            "default" => {
                if found.is_some() {
                    break;
                }
                current = Some(false);
                default = Some((None, None));
            }
            "login" | "password" | "account" | "macdef" => {
                let v = words.next().map(str::to_string);
                let slot = match current {
                    Some(true) => found.as_mut(),
                    Some(false) => default.as_mut(),
                    None => None,
                };
                if let Some(slot) = slot {
                    match w {
                        "login" => slot.0 = v,
                        "password" => slot.1 = v,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (user, password) = found.or(default)?;
    Some(Credentials {
        user: user?,
        password: Secret::new(password?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_entries_are_found_by_host() {
        let text = "machine other login a password b\nmachine xnat.example.org\n  login alice\n  password s3cret\ndefault login d password e\n";
        let c = netrc_lookup(text, "xnat.example.org").unwrap();
        assert_eq!(c.user, "alice");
        assert_eq!(c.password.expose(), "s3cret");
        let d = netrc_lookup(text, "elsewhere").unwrap();
        assert_eq!(d.user, "d");
        assert!(netrc_lookup("machine x login y", "x").is_none());
    }

    #[test]
    fn hosts_are_read_from_urls() {
        assert_eq!(
            host_of("https://xnat.example.org:8443/xnat"),
            "xnat.example.org"
        );
        assert_eq!(host_of("http://127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_of("http://[::1]:80/"), "::1");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let c = Credentials {
            user: "u".into(),
            password: s,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
