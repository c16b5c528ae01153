//! The request log's writer (`scorelet serve --request-log`): JSON lines to stdout or to a file
//! rotated by size, written by a thread of its own so a slow disk never holds a request. The
//! lines come from [`scorelet_metrics::requests::request_line`].

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};

/// Where the lines go.
#[derive(Debug, Clone)]
pub enum Target {
    Stdout,
    /// `path`, moved to `path.1` (and older ones to `path.2` … `path.{keep}`) when a line would
    /// take it over `max_bytes`.
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: usize,
    },
}

/// Lines waiting for the writer at most; beyond, new lines are dropped and counted.
const QUEUE: usize = 16_384;

/// A running request log.
#[derive(Debug)]
pub struct RequestLog {
    tx: SyncSender<String>,
    dropped: AtomicU64,
    next_id: AtomicU64,
    /// Request ids are `{prefix}-{n}`: the start time in hex, unique per server run.
    prefix: String,
}

impl RequestLog {
    /// Opens the target (a file is created or appended to now, so a bad path fails at start).
    pub fn open(target: Target) -> io::Result<RequestLog> {
        let sink = Sink::open(target)?;
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new().name("request-log".into()).spawn(move || sink.run(rx))?;
        let prefix = format!("{:x}", crate::observe::epoch_ms());
        Ok(RequestLog { tx, dropped: AtomicU64::new(0), next_id: AtomicU64::new(1), prefix })
    }

    /// Queues one line (never blocks: a full queue drops it, and says so every 1 000 drops).
    pub fn write(&self, line: String) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(line) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 1000 == 1 {
                tracing::warn!("the request log cannot keep up: {n} lines dropped so far");
            }
        }
    }

    /// The request's id: the client's `x-request-id` when it is a plain token of at most 128
    /// characters, else a new one.
    pub fn request_id(&self, headers: &http::HeaderMap) -> String {
        let theirs = headers.get("x-request-id").and_then(|v| v.to_str().ok()).filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
        match theirs {
            Some(id) => id.to_string(),
            None => format!("{}-{}", self.prefix, self.next_id.fetch_add(1, Ordering::Relaxed)),
        }
    }
}

/// The writer's end.
struct Sink {
    target: Target,
    out: BufWriter<Box<dyn Write + Send>>,
    written: u64,
}

impl Sink {
    fn open(target: Target) -> io::Result<Sink> {
        let (out, written): (Box<dyn Write + Send>, u64) = match &target {
            Target::Stdout => (Box::new(io::stdout()), 0),
            Target::File { path, .. } => {
                let f = append(path)?;
                let len = f.metadata()?.len();
                (Box::new(f), len)
            }
        };
        Ok(Sink { target, out: BufWriter::new(out), written })
    }

    fn run(mut self, rx: Receiver<String>) {
        loop {
            // Flush whenever the queue runs dry, so a quiet server's log is never behind.
            let line = match rx.try_recv() {
                Ok(l) => l,
                Err(TryRecvError::Empty) => {
                    self.flush();
                    match rx.recv() {
                        Ok(l) => l,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            if let Err(e) = self.line(&line) {
                tracing::error!("cannot write the request log: {e}");
            }
        }
        self.flush();
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            tracing::error!("cannot write the request log: {e}");
        }
    }

    fn line(&mut self, line: &str) -> io::Result<()> {
        let n = line.len() as u64 + 1;
        if let Target::File { path, max_bytes, keep } = &self.target
            && self.written > 0
            && self.written + n > *max_bytes
        {
            self.out.flush()?;
            rotate(path, *keep)?;
            self.out = BufWriter::new(Box::new(append(path)?));
            self.written = 0;
        }
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.written += n;
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open the request log {}: {e}", path.display())))
}

/// `path.{keep-1}` → `path.{keep}` … `path` → `path.1` (the oldest falls off).
fn rotate(path: &Path, keep: usize) -> io::Result<()> {
    let numbered = |k: usize| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{k}"));
        PathBuf::from(p)
    };
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    for k in (1..keep).rev() {
        let from = numbered(k);
        if from.exists() {
            std::fs::rename(&from, numbered(k + 1))?;
        }
    }
    std::fs::rename(path, numbered(1))
}
