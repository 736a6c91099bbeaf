//! Reading what a project does with uploads before they are stored: its prearchive code
//! (`/data/projects/P/prearchive_code`) and the anonymization scripts that would run on them
//! (`/xapi/anonymize/site[/enabled]`, `/xapi/anonymize/projects/P[/enabled]`).
//!
//! A setting the server will not show (`403` on older XNATs for accounts that are not site
//! administrators, `404` where the API is missing) is recorded as unreadable with why, never as off.

use super::json::joined;
use super::{enc, Client, XnatError};
use crate::model::inventory::{ProjectSettings, ScriptSetting};

impl Client {
    /// Reads a project's prearchive code and its site-wide and project anonymization scripts; the
    /// three settings are asked for at once (the client's in-flight limit still applies).
    pub fn project_settings(&self, project: &str) -> Result<ProjectSettings, XnatError> {
        let p = enc(project);
        let join = || XnatError::BadResponse {
            server: self.name().to_string(),
            what: format!("reading the settings of project {project}"),
            detail: "a reader thread failed".into(),
        };
        std::thread::scope(|scope| {
            let site = scope.spawn(|| {
                self.script(
                    "/xapi/anonymize/site/enabled",
                    "/xapi/anonymize/site",
                    "the site-wide anonymization script",
                )
            });
            let own = scope.spawn(|| {
                self.script(
                    &format!("/xapi/anonymize/projects/{p}/enabled"),
                    &format!("/xapi/anonymize/projects/{p}"),
                    &format!("the anonymization script of project {project}"),
                )
            });
            let code = match self.text(
                &format!("/data/projects/{p}/prearchive_code"),
                &format!("reading the prearchive setting of project {project}"),
            ) {
                Ok(t) => t.trim().parse::<u8>().ok(),
                Err(e) if unreadable(&e).is_some() => None,
                Err(e) => return Err(e),
            };
            Ok(ProjectSettings {
                prearchive_code: code,
                site_script: joined(site, join)?,
                project_script: joined(own, join)?,
            })
        })
    }

    /// A GET whose text answer matters: a cut body is a transient failure and retried, never
    /// taken as an empty answer.
    fn text(&self, path: &str, what: &str) -> Result<String, XnatError> {
        self.http.get(path, what, |resp| {
            resp.body_mut()
                .with_config()
                .limit(4 * 1024 * 1024)
                .read_to_string()
                .map_err(|e| self.http.read_error(what, &e))
        })
    }

    fn script(&self, enabled: &str, text: &str, what: &str) -> Result<ScriptSetting, XnatError> {
        let on = match self.text(enabled, &format!("reading whether {what} is on")) {
            Ok(t) => t.trim().to_string(),
            Err(e) => return unreadable(&e).map(ScriptSetting::Unreadable).ok_or(e),
        };
        match on.as_str() {
            "false" => return Ok(ScriptSetting::Off),
            "true" => {}
            other => {
                return Ok(ScriptSetting::Unreadable(format!(
                    "the server answered `{}` for whether it is on",
                    other.chars().take(40).collect::<String>()
                )))
            }
        }
        match self.text(text, &format!("reading {what}")) {
            Ok(t) if t.trim().is_empty() => Ok(ScriptSetting::Off),
            Ok(t) => Ok(ScriptSetting::On(t)),
            Err(e) => unreadable(&e).map(ScriptSetting::Unreadable).ok_or(e),
        }
    }
}

/// Why a setting could not be read, for answers that mean "not shown to you" rather than failure.
fn unreadable(e: &XnatError) -> Option<String> {
    match e {
        XnatError::Forbidden { .. } => Some("the server refused to show it (403)".into()),
        XnatError::NotFound { .. } => Some("the server does not serve it (404)".into()),
        XnatError::Refused { status, .. } => Some(format!("the server answered {status}")),
        _ => None,
    }
}
