//! The run's connections: one logged-in client per server the plan names, and their logout.

use crate::plan::Plan;
use crate::xnat::{Client, ClientOptions, XnatError};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Connects to every server the plan names, logging in to all of them at once (each login is one
/// request to its own server).
pub fn connect(
    plan: &Plan,
    opts: &ClientOptions,
) -> Result<BTreeMap<String, Arc<Client>>, XnatError> {
    let logins: Vec<(String, Result<Client, XnatError>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = plan
            .servers
            .iter()
            .map(|(name, server)| {
                (
                    name,
                    scope.spawn(move || Client::connect(name, server, opts.clone())),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| {
                let r = h.join().unwrap_or_else(|_| {
                    Err(XnatError::BadResponse {
                        server: name.clone(),
                        what: "logging in".into(),
                        detail: "a login thread failed".into(),
                    })
                });
                (name.clone(), r)
            })
            .collect()
    });
    // In the plan's order of servers, so the first failure named is the same on every run; the
    // logins that succeeded are ended when another failed.
    let mut out = BTreeMap::new();
    let mut failed = None;
    for (name, r) in logins {
        match r {
            Ok(c) => {
                out.insert(name, Arc::new(c));
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        logout(&out);
        return Err(e);
    }
    Ok(out)
}

/// Ends every server's login session, all at once.
pub fn logout(clients: &BTreeMap<String, Arc<Client>>) {
    std::thread::scope(|scope| {
        for c in clients.values() {
            scope.spawn(|| c.logout());
        }
    });
}
