//! Session zips held in memory between the steps of one run, so a small session's download and
//! upload zip never go through the staging disk (writing, syncing, reading back and deleting them
//! cost more CPU than the rewrite itself on a small session).
//!
//! Only a session whose planned size is at most [`SESSION_LIMIT`] is held, and all held zips together
//! stay within the run's budget (`ferry apply --staging-memory`, [`BUDGET`] by default): the download
//! step reserves room for the download zip and a quarter more before it starts; the upload zip is
//! composed over the download zip (it refers to the download's bytes for each file's data, and holds
//! its headers itself), so the session then takes about its size once, and the rewrite gives back
//! the room it does not use. A session that finds no room, or whose upload zip outgrows its room, is
//! staged on disk as before. An upload zip held here keeps the facts it was built with beside it
//! (verification compares them), and they go with it. Nothing held survives the
//! process: a resumed run finds neither zip on disk and the rewrite step downloads the session again
//! (the journal's record of the rewrite still guards against a source that changed meanwhile).

use super::composed::{At, Layout, ReadAt};
use super::verify::SessionFacts;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The largest session (planned bytes of its files) whose zips are held in memory.
pub const SESSION_LIMIT: u64 = 16 * 1024 * 1024;

/// The most bytes of zips held at once, reservations included.
pub const BUDGET: u64 = 64 * 1024 * 1024;

/// How large the zip of a session of `files` files and `bytes` bytes may be and still be held in
/// memory: its files with room for each entry's name and headers, or 0 (never) for a session larger
/// than [`SESSION_LIMIT`].
pub fn zip_allowance(files: u64, bytes: u64) -> u64 {
    if bytes > SESSION_LIMIT {
        return 0;
    }
    bytes + files * 1024 + 64 * 1024
}

/// Bytes of a zip in memory, shared between the steps that read it: one buffer (a download), or an
/// upload zip composed over the buffer of the download it was rewritten from
/// ([`composed`](super::composed)).
#[derive(Debug, Clone)]
pub enum Bytes {
    /// One buffer.
    Whole(Arc<Vec<u8>>),
    /// A layout over a buffer it refers to.
    Composed(Arc<(Arc<Vec<u8>>, Layout)>),
}

impl Bytes {
    /// Bytes held in one buffer.
    pub fn whole(bytes: Vec<u8>) -> Bytes {
        Bytes::Whole(Arc::new(bytes))
    }

    /// The zip `layout` describes over `base` (the buffer it refers to).
    pub fn composed(base: Arc<Vec<u8>>, layout: Layout) -> Bytes {
        Bytes::Composed(Arc::new((base, layout)))
    }

    /// The bytes as one slice, when they are held in one buffer.
    pub fn as_slice(&self) -> Option<&[u8]> {
        match self {
            Bytes::Whole(v) => Some(v),
            Bytes::Composed(_) => None,
        }
    }

    /// The bytes in one buffer: the buffer itself, or a copy of a composed zip's bytes.
    pub fn buffer(&self) -> Arc<Vec<u8>> {
        match self {
            Bytes::Whole(v) => Arc::clone(v),
            Bytes::Composed(_) => Arc::new(self.slices().concat()),
        }
    }

    /// The bytes in order, as one or more slices.
    pub fn slices(&self) -> Vec<&[u8]> {
        match self {
            Bytes::Whole(v) => vec![v.as_slice()],
            Bytes::Composed(c) => c.1.slices(&c.0).collect(),
        }
    }

    /// A reader over the bytes.
    pub fn reader(&self) -> At<Bytes> {
        At::new(self.clone())
    }

    /// Their number.
    pub fn len(&self) -> u64 {
        match self {
            Bytes::Whole(v) => v.len() as u64,
            Bytes::Composed(c) => c.1.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The memory they keep: a composed zip keeps the buffer it refers to too.
    pub fn footprint(&self) -> u64 {
        match self {
            Bytes::Whole(v) => v.len() as u64,
            Bytes::Composed(c) => (c.0.len() + c.1.own_len()) as u64,
        }
    }
}

impl ReadAt for Bytes {
    fn size(&self) -> u64 {
        self.len()
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> usize {
        match self {
            Bytes::Whole(v) => {
                let from = usize::try_from(pos).unwrap_or(usize::MAX).min(v.len());
                let n = buf.len().min(v.len() - from);
                buf[..n].copy_from_slice(&v[from..from + n]);
                n
            }
            Bytes::Composed(c) => c.1.read_at(&c.0, pos, buf),
        }
    }
}

/// A staged zip: a file in the staging folder, or its bytes held here.
#[derive(Debug, Clone)]
pub enum Staged {
    /// The file.
    Disk(PathBuf),
    /// The bytes, standing for the file at the path.
    Memory(PathBuf, Bytes),
}

/// Something a zip can be read from.
pub trait ReadSeek: std::io::Read + std::io::Seek {}
impl<T: std::io::Read + std::io::Seek> ReadSeek for T {}

impl Staged {
    /// The file's path (where the zip is, or the one it stands for).
    pub fn path(&self) -> &Path {
        match self {
            Staged::Disk(p) | Staged::Memory(p, _) => p,
        }
    }

    /// The zip as an upload body.
    pub fn body(&self) -> crate::xnat::ZipBody<'_> {
        match self {
            Staged::Disk(p) => crate::xnat::ZipBody::File(p),
            Staged::Memory(_, b) => crate::xnat::ZipBody::Memory(b.slices()),
        }
    }

    /// A reader over the zip.
    pub fn reader(&self) -> std::io::Result<Box<dyn ReadSeek>> {
        Ok(match self {
            Staged::Disk(p) => Box::new(std::io::BufReader::new(std::fs::File::open(p)?)),
            Staged::Memory(_, b) => Box::new(b.reader()),
        })
    }
}

/// The zips held by one run, by the staging path they stand for, and the room reserved per staging
/// folder.
#[derive(Debug)]
pub struct Stash {
    budget: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Bytes reserved per staging folder (held zips count against their folder's reservation).
    reserved: BTreeMap<PathBuf, u64>,
    zips: BTreeMap<PathBuf, Bytes>,
    /// The facts an upload zip held here was built with, and their blake3 (as the journal records
    /// it), kept as long as the zip is.
    facts: BTreeMap<PathBuf, (String, Arc<SessionFacts>)>,
}

impl Default for Stash {
    fn default() -> Self {
        Stash::new(BUDGET)
    }
}

impl Stash {
    /// A stash that holds at most `budget` bytes.
    pub fn new(budget: u64) -> Stash {
        Stash {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves `bytes` for the zips of the staging folder `dir`; false (nothing reserved) when that
    /// would pass the budget or `dir` already holds a reservation.
    pub fn reserve(&self, dir: &Path, bytes: u64) -> bool {
        let mut g = self.lock();
        let used: u64 = g.reserved.values().sum();
        if g.reserved.contains_key(dir) || used.saturating_add(bytes) > self.budget {
            return false;
        }
        g.reserved.insert(dir.to_path_buf(), bytes);
        true
    }

    /// Holds `bytes` as the file `path` (inside a reserved folder); hands them back when the folder
    /// has no reservation or its zips would outgrow it. A composed zip counts the zip it refers to.
    pub fn hold(&self, path: &Path, bytes: Bytes) -> Result<Bytes, Bytes> {
        let mut g = self.lock();
        let Some(room) = path.parent().and_then(|d| g.reserved.get(d)).copied() else {
            return Err(bytes);
        };
        let dir = path.parent().unwrap_or(path);
        let held: u64 = g
            .zips
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir) && p.as_path() != path)
            .map(|(_, b)| b.footprint())
            .sum();
        if held + bytes.footprint() > room {
            return Err(bytes);
        }
        g.zips.insert(path.to_path_buf(), bytes.clone());
        g.facts.remove(path);
        Ok(bytes)
    }

    /// The bytes held as `path`, if any.
    pub fn get(&self, path: &Path) -> Option<Bytes> {
        self.lock().zips.get(path).cloned()
    }

    /// Keeps the facts (and their blake3) the zip held as `path` was built with, for as long as the
    /// zip is held; nothing when it is not held.
    pub fn keep_facts(&self, path: &Path, blake3: String, facts: Arc<SessionFacts>) {
        let mut g = self.lock();
        if g.zips.contains_key(path) {
            g.facts.insert(path.to_path_buf(), (blake3, facts));
        }
    }

    /// The zip held as `path` with the facts kept beside it, when both are held.
    pub fn with_facts(&self, path: &Path) -> Option<(Bytes, String, Arc<SessionFacts>)> {
        let g = self.lock();
        let (hash, facts) = g.facts.get(path)?;
        let zip = g.zips.get(path)?;
        Some((zip.clone(), hash.clone(), facts.clone()))
    }

    /// Stops holding `path` (its folder keeps its reservation).
    pub fn drop_file(&self, path: &Path) {
        let mut g = self.lock();
        g.zips.remove(path);
        g.facts.remove(path);
    }

    /// Gives back the room of the staging folder `dir` that its held zips do not use: its
    /// reservation becomes what it holds (and goes when it holds nothing). Called once a session's
    /// upload zip is built, so the room kept for the download zip serves the next session.
    pub fn settle(&self, dir: &Path) {
        let mut g = self.lock();
        let held: u64 = g
            .zips
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(_, b)| b.footprint())
            .sum();
        if held == 0 {
            g.reserved.remove(dir);
        } else if let Some(r) = g.reserved.get_mut(dir) {
            *r = held.min(*r);
        }
    }

    /// Stops holding everything of the staging folder `dir` and frees its reservation.
    pub fn release(&self, dir: &Path) {
        let mut g = self.lock();
        g.zips.retain(|p, _| p.parent() != Some(dir));
        g.facts.retain(|p, _| p.parent() != Some(dir));
        g.reserved.remove(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Stash {
        fn put(&self, path: &Path, bytes: Vec<u8>) -> Result<Bytes, Bytes> {
            self.hold(path, Bytes::whole(bytes))
        }
    }

    #[test]
    fn reservations_stay_within_the_budget_and_are_freed() {
        let s = Stash::new(100);
        let (a, b) = (Path::new("/s/a"), Path::new("/s/b"));
        assert!(s.reserve(a, 60));
        assert!(!s.reserve(a, 10), "one reservation per folder");
        assert!(!s.reserve(b, 41), "60 + 41 passes 100");
        assert!(s.reserve(b, 40));
        s.release(a);
        assert!(s.reserve(a, 60), "a released folder's room is free again");
    }

    #[test]
    fn only_sessions_up_to_the_limit_are_held() {
        assert_eq!(
            zip_allowance(10, SESSION_LIMIT),
            SESSION_LIMIT + 10 * 1024 + 64 * 1024
        );
        assert_eq!(
            zip_allowance(10, SESSION_LIMIT + 1),
            0,
            "larger sessions go to disk"
        );
    }

    #[test]
    fn a_folder_holds_no_more_than_it_reserved() {
        let s = Stash::new(100);
        let dir = Path::new("/s/a");
        let (src, up) = (dir.join("source.zip"), dir.join("upload.zip"));
        assert!(
            s.put(&src, vec![1; 10]).is_err(),
            "nothing reserved for the folder"
        );
        assert!(s.reserve(dir, 30));
        assert_eq!(s.put(&src, vec![1; 20]).unwrap().len(), 20);
        assert_eq!(
            s.put(&up, vec![2; 11]).unwrap_err().len(),
            11,
            "20 + 11 passes the folder's 30"
        );
        s.drop_file(&src);
        let held = s.put(&up, vec![2; 25]).unwrap();
        assert_eq!(s.get(&up).unwrap().as_slice(), held.as_slice());
        assert!(s.get(&src).is_none());
        s.release(dir);
        assert!(s.get(&up).is_none(), "a released folder holds nothing");
    }

    #[test]
    fn facts_are_kept_only_beside_a_held_zip_and_go_with_it() {
        let s = Stash::new(100);
        let dir = Path::new("/s/a");
        let up = dir.join("upload.zip");
        let facts = Arc::new(SessionFacts {
            study_uid: Some("1.2.3".into()),
            ..SessionFacts::default()
        });
        s.keep_facts(&up, "h".into(), facts.clone());
        assert!(s.with_facts(&up).is_none(), "no zip held, no facts kept");
        assert!(s.reserve(dir, 50));
        s.put(&up, vec![1; 10]).unwrap();
        s.keep_facts(&up, "h".into(), facts.clone());
        let (zip, hash, kept) = s.with_facts(&up).unwrap();
        assert_eq!((zip.len(), hash.as_str(), &*kept), (10, "h", &*facts));
        s.put(&up, vec![2; 10]).unwrap();
        assert!(
            s.with_facts(&up).is_none(),
            "a zip held anew does not inherit the facts of the one it replaced"
        );
        s.keep_facts(&up, "h".into(), facts.clone());
        s.drop_file(&up);
        assert!(s.with_facts(&up).is_none(), "dropped with the zip");
        s.put(&up, vec![3; 10]).unwrap();
        s.keep_facts(&up, "h".into(), facts);
        s.release(dir);
        assert!(s.with_facts(&up).is_none(), "released with the folder");
    }

    #[test]
    fn a_settled_folder_keeps_only_the_room_it_uses() {
        let s = Stash::new(100);
        let (a, b) = (Path::new("/s/a"), Path::new("/s/b"));
        assert!(s.reserve(a, 80));
        s.put(&a.join("source.zip"), vec![1; 40]).unwrap();
        assert!(!s.reserve(b, 50), "80 + 50 passes 100");
        s.drop_file(&a.join("source.zip"));
        let up = a.join("upload.zip");
        s.put(&up, vec![2; 30]).unwrap();
        s.settle(a);
        assert!(s.reserve(b, 70), "a keeps 30 of its 80");
        assert_eq!(s.get(&up).unwrap().len(), 30, "settling keeps what is held");
        assert!(
            s.put(&a.join("other.zip"), vec![3; 1]).is_err(),
            "a settled folder has no room left beyond what it holds"
        );
        s.drop_file(&up);
        s.settle(a);
        assert!(!s.reserve(b, 1), "b already holds its reservation");
        assert!(
            s.reserve(a, 30),
            "a folder that holds nothing gives all its room back"
        );
    }

    #[test]
    fn a_composed_zip_counts_the_zip_it_refers_to() {
        let s = Stash::new(1000);
        let dir = Path::new("/s/a");
        assert!(s.reserve(dir, 130));
        let base = s.put(&dir.join("source.zip"), vec![7; 100]).unwrap();
        let mut c = super::super::composed::Composer::new(base.as_slice().unwrap(), 64);
        std::io::Write::write_all(&mut c, b"head").unwrap();
        std::io::Write::write_all(&mut c, &base.as_slice().unwrap()[10..90]).unwrap();
        let zip = Bytes::composed(base.buffer(), c.into_layout());
        assert_eq!((zip.len(), zip.footprint()), (84, 104));
        assert_eq!(
            zip.slices().concat(),
            [b"head".as_slice(), &[7; 80]].concat()
        );
        let up = dir.join("upload.zip");
        let refused = s.hold(&up, zip.clone()).unwrap_err();
        assert_eq!(refused.len(), 84, "100 + 104 passes the folder's 130");
        s.drop_file(&dir.join("source.zip"));
        s.hold(&up, zip).unwrap();
        s.settle(dir);
        assert!(
            s.reserve(Path::new("/s/b"), 896),
            "a keeps the 104 it holds"
        );
    }
}
