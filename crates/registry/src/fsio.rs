//! Every filesystem write the [`Store`](crate::Store) makes, in one place, so its crash safety
//! can be tested: with the `faults` feature (tests only), [`step`] marks are failpoints a test
//! can hook (to abort the process or pause it), and every write is mirrored into a model of what
//! a power loss would keep ([`power`]): file contents only as of their last fsync, directory
//! entries only as of their directory's last fsync. Without the feature these are the plain
//! `std::fs` calls.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// A named step of a write (`publish:renamed`, `alias:history`…) the store has just completed.
#[inline]
pub fn step(name: &str) {
    #[cfg(feature = "faults")]
    faults::hit(name);
    #[cfg(not(feature = "faults"))]
    let _ = name;
}

/// Creates one directory (not its parents).
pub fn create_dir(p: &Path) -> io::Result<()> {
    fs::create_dir(p)?;
    #[cfg(feature = "faults")]
    power::record(power::Op::CreateDir(p));
    Ok(())
}

/// Creates or truncates a file, writes `bytes` and fsyncs it (not its directory).
pub fn write_synced(p: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(p)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    #[cfg(feature = "faults")]
    power::record(power::Op::WriteSynced(p, bytes));
    Ok(())
}

/// Appends `bytes` to a file (creating it) and fsyncs it (not its directory).
pub fn append_synced(p: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(p)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    #[cfg(feature = "faults")]
    power::record(power::Op::AppendSynced(p, bytes));
    Ok(())
}

/// Cuts a file to `len` bytes and fsyncs it.
pub fn truncate(p: &Path, len: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(p)?;
    f.set_len(len)?;
    f.sync_all()?;
    #[cfg(feature = "faults")]
    power::record(power::Op::Truncate(p, len));
    Ok(())
}

/// Renames a file or directory (replacing a file at `to`).
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    #[cfg(feature = "faults")]
    power::record(power::Op::Rename(from, to));
    Ok(())
}

/// Fsyncs a directory, making its entries durable.
pub fn sync_dir(p: &Path) -> io::Result<()> {
    File::open(p)?.sync_all()?;
    #[cfg(feature = "faults")]
    power::record(power::Op::SyncDir(p));
    Ok(())
}

/// Removes a file.
pub fn remove_file(p: &Path) -> io::Result<()> {
    fs::remove_file(p)?;
    #[cfg(feature = "faults")]
    power::record(power::Op::Remove(p));
    Ok(())
}

/// Removes a directory and everything in it.
pub fn remove_dir_all(p: &Path) -> io::Result<()> {
    fs::remove_dir_all(p)?;
    #[cfg(feature = "faults")]
    power::record(power::Op::Remove(p));
    Ok(())
}

/// Failpoints: a hook called with the name of every [`step`].
#[cfg(feature = "faults")]
pub mod faults {
    use std::sync::{Arc, RwLock};

    type Hook = Arc<dyn Fn(&str) + Send + Sync>;
    static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

    /// Installs the hook (`None` removes it). It runs on the writing thread, under the store's
    /// write locks: it may abort the process, sleep, or wait for the test.
    pub fn set_hook(hook: Option<Hook>) {
        *HOOK.write().unwrap_or_else(|e| e.into_inner()) = hook;
    }

    pub(super) fn hit(name: &str) {
        let hook = HOOK.read().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(h) = hook {
            h(name);
        }
    }
}

/// A model of the disk under a power loss. [`start`] begins tracking the writes under a root
/// (an empty directory); [`durable`] says what a power loss at that moment would leave, and
/// [`Durable::materialize`] writes that out as a directory tree to open a store on.
///
/// The model is the strict POSIX one LazyFS implements: a file's data survives as of its last
/// fsync (a file never synced survives empty), a name in a directory survives as of that
/// directory's last fsync (so a created, renamed or removed entry is undone unless its directory
/// was synced after). Only writes made through this module are tracked; the store's lock files
/// are not (a store recreates them).
#[cfg(feature = "faults")]
pub mod power {
    use std::collections::BTreeMap;
    use std::path::{Component, Path, PathBuf};
    use std::sync::Mutex;

    pub(super) enum Op<'a> {
        CreateDir(&'a Path),
        WriteSynced(&'a Path, &'a [u8]),
        AppendSynced(&'a Path, &'a [u8]),
        Truncate(&'a Path, u64),
        Rename(&'a Path, &'a Path),
        SyncDir(&'a Path),
        Remove(&'a Path),
    }

    #[derive(Clone)]
    enum Node {
        File { data: Vec<u8>, synced: Vec<u8> },
        Dir { entries: BTreeMap<String, usize>, synced: BTreeMap<String, usize> },
    }

    struct Disk {
        root: PathBuf,
        nodes: Vec<Node>,
        /// What a power loss after each tracked write would leave, in order.
        after: Vec<Durable>,
    }

    static DISK: Mutex<Option<Disk>> = Mutex::new(None);

    /// Starts tracking writes under `root` (an existing, empty directory, taken as durable).
    pub fn start(root: &Path) {
        let root = root.canonicalize().expect("the tracked root exists");
        let dir = Node::Dir { entries: BTreeMap::new(), synced: BTreeMap::new() };
        *DISK.lock().unwrap_or_else(|e| e.into_inner()) = Some(Disk { root, nodes: vec![dir], after: vec![] });
    }

    /// How many writes have been tracked so far.
    pub fn writes() -> usize {
        DISK.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(0, |d| d.after.len())
    }

    /// Stops tracking; returns what a power loss after each tracked write would have left
    /// (element `i`: after write `i + 1`).
    pub fn stop() -> Vec<Durable> {
        DISK.lock().unwrap_or_else(|e| e.into_inner()).take().map(|d| d.after).unwrap_or_default()
    }

    /// What survives a power loss now (empty if nothing is tracked).
    pub fn durable() -> Durable {
        let disk = DISK.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Durable::default();
        if let Some(d) = disk.as_ref() {
            d.collect(0, PathBuf::new(), &mut out);
        }
        out
    }

    /// A durable tree: directories and files by path relative to the root.
    #[derive(Default, Clone, Debug)]
    pub struct Durable {
        pub dirs: Vec<PathBuf>,
        pub files: BTreeMap<PathBuf, Vec<u8>>,
    }

    impl Durable {
        /// Writes the tree under `dest` (an empty directory).
        pub fn materialize(&self, dest: &Path) -> std::io::Result<()> {
            for d in &self.dirs {
                std::fs::create_dir_all(dest.join(d))?;
            }
            for (f, bytes) in &self.files {
                std::fs::write(dest.join(f), bytes)?;
            }
            Ok(())
        }
    }

    pub(super) fn record(op: Op<'_>) {
        let mut disk = DISK.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = disk.as_mut()
            && d.apply(op)
        {
            let mut now = Durable::default();
            d.collect(0, PathBuf::new(), &mut now);
            d.after.push(now);
        }
    }

    impl Disk {
        /// The path's components below the root, or `None` for a path outside it.
        fn rel(&self, p: &Path) -> Option<Vec<String>> {
            // Parents exist when an op succeeded; the last component may be gone (a rename's
            // source, a removed entry), so canonicalize the parent only.
            let parent = p.parent()?.canonicalize().ok()?;
            let rest = parent.strip_prefix(&self.root).ok()?;
            let mut out: Vec<String> = rest
                .components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect();
            out.push(p.file_name()?.to_string_lossy().into_owned());
            Some(out)
        }

        /// The directory node holding the last component, and that component.
        fn parent_of(&self, p: &Path) -> Option<(usize, String)> {
            let mut parts = self.rel(p)?;
            let last = parts.pop()?;
            let mut id = 0;
            for part in parts {
                match &self.nodes[id] {
                    Node::Dir { entries, .. } => {
                        id = *entries
                            .get(&part)
                            .unwrap_or_else(|| panic!("{} was not created through fsio", p.display()))
                    }
                    Node::File { .. } => panic!("{} is under a file", p.display()),
                }
            }
            Some((id, last))
        }

        fn entries(&mut self, dir: usize) -> &mut BTreeMap<String, usize> {
            match &mut self.nodes[dir] {
                Node::Dir { entries, .. } => entries,
                Node::File { .. } => panic!("not a directory"),
            }
        }

        fn lookup(&mut self, p: &Path) -> Option<usize> {
            let (dir, name) = self.parent_of(p)?;
            self.entries(dir).get(&name).copied()
        }

        /// Applies a write; false if it is outside the root.
        fn apply(&mut self, op: Op<'_>) -> bool {
            match op {
                Op::CreateDir(p) => {
                    let Some((dir, name)) = self.parent_of(p) else { return false };
                    self.nodes.push(Node::Dir { entries: BTreeMap::new(), synced: BTreeMap::new() });
                    let id = self.nodes.len() - 1;
                    self.entries(dir).insert(name, id);
                }
                Op::WriteSynced(p, bytes) | Op::AppendSynced(p, bytes) => {
                    let append = matches!(op, Op::AppendSynced(..));
                    let Some((dir, name)) = self.parent_of(p) else { return false };
                    let id = match self.entries(dir).get(&name) {
                        Some(&id) => id,
                        None => {
                            self.nodes.push(Node::File { data: vec![], synced: vec![] });
                            let id = self.nodes.len() - 1;
                            self.entries(dir).insert(name, id);
                            id
                        }
                    };
                    if let Node::File { data, synced } = &mut self.nodes[id] {
                        if !append {
                            data.clear();
                        }
                        data.extend_from_slice(bytes);
                        *synced = data.clone();
                    }
                }
                Op::Truncate(p, len) => {
                    let Some(id) = self.lookup(p) else { return false };
                    if let Node::File { data, synced } = &mut self.nodes[id] {
                        data.truncate(len as usize);
                        *synced = data.clone();
                    }
                }
                Op::Rename(from, to) => {
                    let (Some((fd, fname)), Some((td, tname))) = (self.parent_of(from), self.parent_of(to)) else {
                        return false;
                    };
                    if let Some(id) = self.entries(fd).remove(&fname) {
                        self.entries(td).insert(tname, id);
                    }
                }
                Op::SyncDir(p) => {
                    let id = if p.canonicalize().ok().as_ref() == Some(&self.root) { Some(0) } else { self.lookup(p) };
                    let Some(id) = id else { return false };
                    if let Node::Dir { entries, synced } = &mut self.nodes[id] {
                        *synced = entries.clone();
                    }
                }
                Op::Remove(p) => {
                    let Some((dir, name)) = self.parent_of(p) else { return false };
                    self.entries(dir).remove(&name);
                }
            }
            true
        }

        fn collect(&self, id: usize, at: PathBuf, out: &mut Durable) {
            match &self.nodes[id] {
                Node::Dir { synced, .. } => {
                    out.dirs.push(at.clone());
                    for (name, &child) in synced {
                        self.collect(child, at.join(name), out);
                    }
                }
                Node::File { synced, .. } => {
                    out.files.insert(at, synced.clone());
                }
            }
        }
    }
}
