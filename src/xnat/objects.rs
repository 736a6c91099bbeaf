//! Subjects and sessions as whole objects: creating a subject, sharing a subject or a session into
//! another project, deleting a session with its files.

use super::http::Retry;
use super::{enc, Client, XnatError};

impl Client {
    /// Creates a subject (nothing happens when it exists).
    pub fn create_subject(&self, project: &str, label: &str) -> Result<(), XnatError> {
        let path = format!("/data/projects/{}/subjects/{}", enc(project), enc(label));
        self.http.send(
            "PUT",
            &path,
            &format!("creating subject {label} in project {project}"),
            Retry::Idempotent,
        )?;
        Ok(())
    }

    /// Shares a subject of `src_project` into `dest_project` under `dest_label`.
    pub fn share_subject(
        &self,
        src_project: &str,
        subject: &str,
        dest_project: &str,
        dest_label: &str,
    ) -> Result<(), XnatError> {
        let path = format!(
            "/data/projects/{}/subjects/{}/projects/{}?label={}",
            enc(src_project),
            enc(subject),
            enc(dest_project),
            enc(dest_label)
        );
        self.http.send(
            "PUT",
            &path,
            &format!("sharing subject {subject} of {src_project} into {dest_project}"),
            Retry::Idempotent,
        )?;
        Ok(())
    }

    /// Shares a session of `src_project` into `dest_project` under `dest_label`.
    pub fn share_session(
        &self,
        src_project: &str,
        subject: &str,
        session: &str,
        dest_project: &str,
        dest_label: &str,
    ) -> Result<(), XnatError> {
        let path = format!(
            "{}/projects/{}?label={}",
            self.session_path(src_project, subject, session),
            enc(dest_project),
            enc(dest_label)
        );
        self.http.send(
            "PUT",
            &path,
            &format!("sharing session {session} of {src_project} into {dest_project}"),
            Retry::Idempotent,
        )?;
        Ok(())
    }

    /// Deletes a session with its files.
    pub fn delete_session(
        &self,
        project: &str,
        subject: &str,
        session: &str,
    ) -> Result<(), XnatError> {
        let path = format!(
            "{}?removeFiles=true",
            self.session_path(project, subject, session)
        );
        self.http.send(
            "DELETE",
            &path,
            &format!("deleting session {session} of {project}"),
            Retry::Idempotent,
        )?;
        Ok(())
    }
}
