//! The secret that keys header fingerprints: 32 random bytes per plan run, kept only in the staging
//! folder beside the plan (`PLAN.staging/fingerprint.key`, readable by its owner only), never in the
//! plan, journal, report or logs. A resumed run reads the same file, so its facts compare with the
//! first run's; the folder, key included, is removed when the plan has applied completely.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The key file of a staging folder.
pub fn path_in(staging: &Path) -> PathBuf {
    staging.join("fingerprint.key")
}

/// The run's key: read from the staging folder, or created there (atomically: concurrent steps of
/// one run all get the one key that landed).
pub fn load_or_create(staging: &Path) -> std::io::Result<[u8; 32]> {
    let path = path_in(staging);
    match read(&path) {
        Ok(k) => return Ok(k),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(staging)?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = tempfile::NamedTempFile::new_in(staging)?;
    restrict(tmp.path())?;
    tmp.as_file().write_all(&key)?;
    tmp.as_file().sync_all()?;
    // A hard link never replaces an existing file: whoever lands first, everyone reads that key.
    match std::fs::hard_link(tmp.path(), &path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    read(&path)
}

fn read(path: &Path) -> std::io::Result<[u8; 32]> {
    let bytes = std::fs::read(path)?;
    bytes.as_slice().try_into().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "`{}` is not a fingerprint key (32 bytes); remove it and run again",
                path.display()
            ),
        )
    })
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_creates_one_key_and_a_resumed_run_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("plan.yaml.staging");
        let a = load_or_create(&staging).unwrap();
        let b = load_or_create(&staging).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, [0; 32]);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create(other.path()).unwrap(), a, "random per run");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path_in(&staging))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "owner only");
        }
        std::fs::write(path_in(&staging), b"short").unwrap();
        let e = load_or_create(&staging).unwrap_err();
        assert!(e.to_string().contains("not a fingerprint key"), "{e}");
    }

    #[test]
    fn concurrent_steps_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().to_path_buf();
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create(&staging).unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]));
    }
}
