//! The store under crashes and power loss (needs the `faults` feature:
//! `cargo test -p scorelet-registry --features faults --test faults`).
//!
//! - A writer process aborted after each step of a publish, an alias move and an alias delete
//!   (a real `abort()`, no unwinding, no cleanup): afterwards every acknowledged version exists
//!   and verifies under the number it was acknowledged with, no partial version is visible, and
//!   the audit log and the alias histories agree with what was acknowledged.
//! - A power loss after each single write (the `fsio::power` model keeps only what was fsynced):
//!   the same holds.
//! - A second store opened while a publish is paused neither waits for it nor disturbs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, mpsc};

use scorelet::Bundle;
use scorelet_registry::Store;
use scorelet_registry::fsio::{faults, power};

/// The failpoint hook and the power model are process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Every step the store marks, in the order a scenario meets them.
const STEPS: &[&str] = &[
    "publish:files-written",
    "publish:manifest-written",
    "publish:renamed",
    "publish:dir-synced",
    "publish:audited",
    "alias:temp-written",
    "alias:renamed",
    "alias:replaced",
    "alias:history",
    "alias:audited",
    "alias-delete:removed",
    "alias-delete:audited",
];

fn fixture() -> (String, Vec<u8>, BTreeMap<String, Vec<u8>>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bundle");
    let b = Bundle::load_dir(dir).unwrap();
    (b.manifest.name.clone(), b.manifest_bytes(), b.files().clone())
}

/// What the store acknowledged, in order.
#[derive(Debug, Clone, PartialEq)]
enum Ack {
    Published(u64),
    Moved(String, Option<u64>),
}

impl Ack {
    fn line(&self) -> String {
        match self {
            Ack::Published(v) => format!("published {v}"),
            Ack::Moved(a, to) => format!("moved {a} {}", to.map_or("none".into(), |v| v.to_string())),
        }
    }

    fn parse(line: &str) -> Ack {
        let w: Vec<&str> = line.split(' ').collect();
        match w[..] {
            ["published", v] => Ack::Published(v.parse().unwrap()),
            ["moved", a, to] => Ack::Moved(a.into(), to.parse().ok()),
            _ => panic!("bad ack line {line:?}"),
        }
    }
}

/// Three publishes, each followed by a move of `production`; `staging` set and deleted.
fn scenario(store: &Store, ack: &mut dyn FnMut(Ack)) {
    let (name, manifest, files) = fixture();
    for _ in 0..3 {
        let v = store.publish(&name, &manifest, files.clone(), "test").unwrap();
        ack(Ack::Published(v));
        store.set_alias(&name, "production", v, "test", None).unwrap();
        ack(Ack::Moved("production".into(), Some(v)));
    }
    store.set_alias(&name, "staging", 1, "test", None).unwrap();
    ack(Ack::Moved("staging".into(), Some(1)));
    store.delete_alias(&name, "staging", "test").unwrap();
    ack(Ack::Moved("staging".into(), None));
}

/// Opens the store as the next process would and checks it against what was acknowledged
/// (`acked`); the write in flight when it stopped may have happened or not, nothing else.
fn check(root: &Path, acked: &[Ack], when: &str) {
    let (name, manifest, files) = fixture();
    let store = Store::open(root).unwrap_or_else(|e| panic!("{when}: the store does not open: {e}"));
    let v = store.verify().unwrap();
    assert!(v.problems.is_empty(), "{when}: verify found {:?}", v.problems);

    let published: Vec<u64> =
        acked.iter().filter_map(|a| if let Ack::Published(v) = a { Some(*v) } else { None }).collect();
    let present: Vec<u64> = match store.versions(&name) {
        Ok(vs) => vs.iter().map(|v| v.version).collect(),
        Err(_) => vec![],
    };
    let next = published.len() as u64 + 1;
    assert!(
        present == published || present == [published.clone(), vec![next]].concat(),
        "{when}: versions {present:?} after acknowledging {published:?}"
    );
    assert_eq!(v.versions, present.len(), "{when}: every visible version verifies");
    for &n in &published {
        let m = Bundle::parse_manifest(&store.manifest(&name, n).unwrap()).unwrap();
        assert_eq!(m.version, Some(n), "{when}: {name}@{n} holds version {:?}", m.version);
    }

    for alias in ["production", "staging"] {
        let acked_moves: Vec<Option<u64>> = acked
            .iter()
            .filter_map(|a| match a {
                Ack::Moved(x, to) if x == alias => Some(*to),
                _ => None,
            })
            .collect();
        let history: Vec<Option<u64>> = match store.alias_history(&name, alias, 0, 100) {
            Ok((moves, _)) => moves.iter().map(|m| m.to).collect(),
            Err(_) => vec![],
        };
        assert!(
            history.starts_with(&acked_moves) && history.len() <= acked_moves.len() + 1,
            "{when}: {alias} history {history:?} after acknowledging {acked_moves:?}"
        );
        // verify() has checked the document against the log's last move; it is the history's.
        let doc = store.alias(&name, alias).ok().map(|d| d.version);
        assert_eq!(doc, history.last().copied().flatten(), "{when}: {alias} points elsewhere than its history says");
    }

    let areas = std::fs::read_dir(root.join("tmp"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".area"))
        .count();
    assert_eq!(areas, 1, "{when}: staging areas of dead writers were not cleared");
    // And it still takes writes, under the next number.
    let after = store.publish(&name, &manifest, files, "test").unwrap();
    assert_eq!(after, present.len() as u64 + 1, "{when}: the next publish got {after}");
}

const CHILD_ROOT: &str = "SCORELET_FAULT_ROOT";

/// Not a test on its own: the writer process `abort_at_every_step` starts and kills.
#[test]
fn writer_child() {
    let Ok(root) = std::env::var(CHILD_ROOT) else { return };
    let point = std::env::var("SCORELET_FAULT_POINT").unwrap();
    let nth: usize = std::env::var("SCORELET_FAULT_NTH").unwrap().parse().unwrap();
    let acks = PathBuf::from(std::env::var("SCORELET_FAULT_ACKS").unwrap());
    let hits = Mutex::new(0usize);
    faults::set_hook(Some(Arc::new(move |step: &str| {
        let mut n = hits.lock().unwrap();
        if step == point {
            *n += 1;
            if *n == nth {
                std::process::abort();
            }
        }
    })));
    let store = Store::open(Path::new(&root)).unwrap();
    scenario(&store, &mut |a| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&acks).unwrap();
        writeln!(f, "{}", a.line()).unwrap();
    });
}

#[test]
fn abort_at_every_step() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for step in STEPS {
        // The first time (directories created) and a later time (they exist).
        for nth in [1, 2] {
            let t = tempfile::tempdir().unwrap();
            let root = t.path().join("registry");
            let acks = t.path().join("acks");
            let status = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
                .env(CHILD_ROOT, &root)
                .env("SCORELET_FAULT_POINT", step)
                .env("SCORELET_FAULT_NTH", nth.to_string())
                .env("SCORELET_FAULT_ACKS", &acks)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            let aborted = !status.success();
            if nth == 1 {
                assert!(aborted, "the writer never reached step {step}");
            }
            if !aborted {
                continue;
            }
            let acked: Vec<Ack> = std::fs::read_to_string(&acks).unwrap_or_default().lines().map(Ack::parse).collect();
            check(&root, &acked, &format!("aborted at {step} (#{nth}) after {} acknowledgements", acked.len()));
        }
    }
}

#[test]
fn power_loss_after_every_write() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("registry");
    std::fs::create_dir(&root).unwrap();
    power::start(&root);
    // Each acknowledgement with the number of writes made before it.
    let mut acks: Vec<(usize, Ack)> = vec![];
    let store = Store::open(&root).unwrap();
    scenario(&store, &mut |a| acks.push((power::writes(), a)));
    drop(store);
    let states = power::stop();
    assert!(states.len() > 40, "only {} writes were tracked", states.len());
    for (i, state) in states.iter().enumerate() {
        let writes = i + 1;
        let acked: Vec<Ack> = acks.iter().filter(|(w, _)| *w <= writes).map(|(_, a)| a.clone()).collect();
        let dir = tempfile::tempdir().unwrap();
        state.materialize(dir.path()).unwrap();
        check(dir.path(), &acked, &format!("power lost after write {writes} of {}", states.len()));
    }
}

#[test]
fn second_open_during_a_paused_publish() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = tempfile::tempdir().unwrap();
    let root = t.path().to_path_buf();
    let (name, manifest, files) = fixture();
    let (paused_tx, paused_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let paused_tx = Mutex::new(paused_tx);
    faults::set_hook(Some(Arc::new(move |step: &str| {
        if step == "publish:manifest-written" && std::thread::current().name() == Some("paused") {
            paused_tx.lock().unwrap().send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
        }
    })));
    let first = Store::open(&root).unwrap();
    first.publish(&name, &manifest, files.clone(), "test").unwrap();
    let publisher = {
        let (name, manifest, files) = (name.clone(), manifest.clone(), files.clone());
        std::thread::Builder::new()
            .name("paused".into())
            .spawn(move || first.publish(&name, &manifest, files, "test").map(|v| (v, first)))
            .unwrap()
    };
    paused_rx.recv().unwrap();
    // The publish holds the write locks with its files staged: a second store opens without
    // waiting for it and leaves its staging area alone.
    let second = Store::open(&root).unwrap();
    let areas: Vec<String> = std::fs::read_dir(root.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".area"))
        .collect();
    assert_eq!(areas.len(), 2, "{areas:?}");
    go_tx.send(()).unwrap();
    let (v, first) = publisher.join().unwrap().unwrap();
    faults::set_hook(None);
    assert_eq!(v, 2);
    let report = second.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.versions, 2);
    assert_eq!(second.publish(&name, &manifest, files.clone(), "test").unwrap(), 3);
    assert_eq!(first.publish(&name, &manifest, files, "test").unwrap(), 4);
}

/// Writes that fail part way (the audit log, then an alias history, unwritable) leave nothing
/// visible: no version without its record, the alias where it was, the history unchanged.
#[test]
fn a_failed_write_leaves_nothing_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = tempfile::tempdir().unwrap();
    let (name, manifest, files) = fixture();
    let store = Store::open(t.path()).unwrap();
    // A directory where the audit log goes: the record cannot be appended.
    std::fs::create_dir(t.path().join("audit.jsonl")).unwrap();
    assert!(store.publish(&name, &manifest, files.clone(), "test").is_err());
    assert!(store.versions(&name).map(|v| v.is_empty()).unwrap_or(true), "a version without its record is visible");
    std::fs::remove_dir(t.path().join("audit.jsonl")).unwrap();
    assert_eq!(store.publish(&name, &manifest, files.clone(), "test").unwrap(), 1);
    assert_eq!(store.publish(&name, &manifest, files, "test").unwrap(), 2);
    store.set_alias(&name, "production", 1, "test", None).unwrap();
    // A directory where the alias history goes: the move cannot be recorded.
    let history = t.path().join("models").join(&name).join("aliases/production.history.jsonl");
    let saved = std::fs::read(&history).unwrap();
    std::fs::remove_file(&history).unwrap();
    std::fs::create_dir(&history).unwrap();
    assert!(store.set_alias(&name, "production", 2, "test", None).is_err());
    assert_eq!(store.alias(&name, "production").unwrap().version, 1, "a failed move moved the alias");
    std::fs::remove_dir(&history).unwrap();
    std::fs::write(&history, saved).unwrap();
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.versions, 2);
}
