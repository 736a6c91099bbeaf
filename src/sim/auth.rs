//! Who is calling, and what they may do: Basic credentials (passwords or alias tokens), `JSESSIONID`
//! sessions, and per-project roles.
//!
//! Sessions and alias tokens live in memory only: a restart logs everyone out, as it does on XNAT.
//! Passwords never leave this module except in the state folder's own site file.

use super::http::Request;
use super::model::Role;
use super::store::Store;
use super::util::{base64_decode, random_hex};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an idle session stays valid.
const SESSION_IDLE: Duration = Duration::from_secs(15 * 60);

/// An alias token.
#[derive(Debug, Clone)]
pub struct Token {
    /// The account the token stands for.
    pub user: String,
    /// The secret (password part).
    pub secret: String,
}

/// Sessions and tokens.
#[derive(Debug, Default)]
pub struct Auth {
    sessions: Mutex<HashMap<String, (String, Instant)>>,
    tokens: Mutex<HashMap<String, Token>>,
}

/// The outcome of looking at a request's credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// No credentials at all.
    Anonymous,
    /// Credentials were given and are wrong.
    BadCredentials,
    /// An authenticated account.
    User {
        /// The login.
        name: String,
        /// Whether it is a site administrator.
        admin: bool,
        /// The session id the request came with, if it used a valid cookie.
        session: Option<String>,
    },
}

impl Caller {
    /// The login, when authenticated.
    pub fn name(&self) -> Option<&str> {
        match self {
            Caller::User { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// What an account may do in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: the project is hidden or forbidden.
    None,
    /// Read only (collaborator).
    Read,
    /// Read, create and edit (member).
    Edit,
    /// Everything including delete (owner or site administrator).
    Delete,
}

/// The access of a caller in a project.
pub fn access(store: &Store, caller: &Caller, project: &str) -> Access {
    let Caller::User { name, admin, .. } = caller else {
        return Access::None;
    };
    if *admin {
        return Access::Delete;
    }
    match store.projects.get(project).and_then(|p| p.roles.get(name)) {
        Some(Role::Owner) => Access::Delete,
        Some(Role::Member) => Access::Edit,
        Some(Role::Collaborator) => Access::Read,
        None => Access::None,
    }
}

fn looks_like_uuid(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            matches!(i, 8 | 13 | 18 | 23) == (c == '-') && (c == '-' || c.is_ascii_hexdigit())
        })
}

impl Auth {
    /// Identifies the caller of a request: Basic credentials win over a session cookie.
    pub fn identify(&self, req: &Request, store: &Store) -> Caller {
        if let Some(h) = req.header("authorization") {
            return self.basic(h, store);
        }
        if let Some(id) = session_cookie(req) {
            if let Some(name) = self.touch(&id) {
                let admin = store.site.users.get(&name).is_some_and(|u| u.admin);
                return Caller::User {
                    name,
                    admin,
                    session: Some(id),
                };
            }
        }
        Caller::Anonymous
    }

    fn basic(&self, header: &str, store: &Store) -> Caller {
        let Some(b64) = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))
        else {
            return Caller::BadCredentials;
        };
        let Some(text) = base64_decode(b64).and_then(|b| String::from_utf8(b).ok()) else {
            return Caller::BadCredentials;
        };
        let Some((user, pass)) = text.split_once(':') else {
            return Caller::BadCredentials;
        };
        self.check_password(user, pass, store)
    }

    /// Checks a login and password (or an alias token and its secret).
    pub fn check_password(&self, user: &str, pass: &str, store: &Store) -> Caller {
        let user = user.rsplit('/').next().unwrap_or(user);
        if looks_like_uuid(user) {
            let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            return match tokens.get(user) {
                Some(t) if t.secret == pass => Caller::User {
                    admin: store.site.users.get(&t.user).is_some_and(|u| u.admin),
                    name: t.user.clone(),
                    session: None,
                },
                _ => Caller::BadCredentials,
            };
        }
        match store.site.users.get(user) {
            Some(u) if u.password == pass => Caller::User {
                name: user.to_string(),
                admin: u.admin,
                session: None,
            },
            _ => Caller::BadCredentials,
        }
    }

    /// Starts a session for an account and returns its id (32 upper-case hex characters).
    pub fn new_session(&self, user: &str) -> String {
        let id = random_hex(32);
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() > 10_000 {
            s.retain(|_, (_, seen)| seen.elapsed() < SESSION_IDLE);
        }
        s.insert(id.clone(), (user.to_string(), Instant::now()));
        id
    }

    fn touch(&self, id: &str) -> Option<String> {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match s.get_mut(id) {
            Some((user, seen)) if seen.elapsed() < SESSION_IDLE => {
                *seen = Instant::now();
                Some(user.clone())
            }
            Some(_) => {
                s.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn end_session(&self, id: &str) {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.remove(id);
    }

    /// Issues an alias token for an account: (alias, secret).
    pub fn issue_token(&self, user: &str) -> (String, String) {
        let h = random_hex(32).to_ascii_lowercase();
        let alias = format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        );
        let secret: String = random_hex(64);
        let mut t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        t.insert(
            alias.clone(),
            Token {
                user: user.to_string(),
                secret: secret.clone(),
            },
        );
        (alias, secret)
    }

    /// The tokens of an account: (alias, secret).
    pub fn tokens_of(&self, user: &str) -> Vec<(String, String)> {
        let t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = t
            .iter()
            .filter(|(_, tok)| tok.user == user)
            .map(|(a, tok)| (a.clone(), tok.secret.clone()))
            .collect();
        v.sort();
        v
    }

    /// Checks an alias and secret.
    pub fn token_valid(&self, alias: &str, secret: &str) -> Option<String> {
        let t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        t.get(alias)
            .filter(|tok| tok.secret == secret)
            .map(|tok| tok.user.clone())
    }

    /// Invalidates a token; whether it existed.
    pub fn invalidate_token(&self, alias: &str) -> bool {
        let mut t = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        t.remove(alias).is_some()
    }
}

/// The `JSESSIONID` cookie of a request, if any.
pub fn session_cookie(req: &Request) -> Option<String> {
    req.headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "JSESSIONID")
        .map(|(_, v)| v.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::model::User;

    fn store() -> Store {
        let mut s = Store::default();
        s.site.users.insert(
            "admin".into(),
            User {
                password: "pw".into(),
                admin: true,
            },
        );
        s
    }

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/".into(),
            query: String::new(),
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            body: vec![],
        }
    }

    #[test]
    fn basic_sessions_and_tokens() {
        let s = store();
        let a = Auth::default();
        // admin:pw
        let ok = a.identify(&req(&[("authorization", "Basic YWRtaW46cHc=")]), &s);
        assert_eq!(ok.name(), Some("admin"));
        let bad = a.identify(&req(&[("authorization", "Basic YWRtaW46eA==")]), &s);
        assert_eq!(bad, Caller::BadCredentials);
        assert_eq!(a.identify(&req(&[]), &s), Caller::Anonymous);
        let id = a.new_session("admin");
        let cookie = format!("x=1; JSESSIONID={id}");
        let via = a.identify(&req(&[("cookie", &cookie)]), &s);
        assert_eq!(via.name(), Some("admin"));
        a.end_session(&id);
        assert_eq!(
            a.identify(&req(&[("cookie", &cookie)]), &s),
            Caller::Anonymous
        );
        let (alias, secret) = a.issue_token("admin");
        assert!(looks_like_uuid(&alias));
        assert_eq!(a.check_password(&alias, &secret, &s).name(), Some("admin"));
        assert!(a.invalidate_token(&alias));
        assert_eq!(
            a.check_password(&alias, &secret, &s),
            Caller::BadCredentials
        );
    }
}
