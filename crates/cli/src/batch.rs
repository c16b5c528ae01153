//! `scorelet predict` over a CSV file on every core, in order: one thread splits the file into
//! records, workers turn chunks of records into features, scores and JSON lines, and the calling
//! thread writes the chunks in input order.
//!
//! Chunk `k` goes to worker `k mod W` and the writer takes results from the workers in the same
//! rotation, so the output is in input order without a reordering buffer. Cells are read as
//! borrowed text (`ValueRef`), and record buffers travel back to the reader for reuse, so a
//! steady run allocates little beyond each chunk's output text. The first error in input order
//! (a malformed record or a bad cell) ends the run; later chunks are dropped unwritten.

use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use anyhow::{Result, anyhow, bail};
use indicatif::ProgressBar;
use scorelet::Scorer;
use scorelet::api::RowReader;
use scorelet::value::ValueRef;

use crate::score::Sink;

/// Rows per chunk: large enough that the model runs on real batches, small enough that two
/// chunks per worker stay in cache-sized buffers.
const CHUNK: usize = 4096;

/// Records of one chunk, and the index of its first row.
struct Work {
    start: usize,
    records: Vec<csv::StringRecord>,
    len: usize,
}

/// A scored chunk: its JSON lines, and the record buffers to hand back to the reader.
struct Done {
    text: Vec<u8>,
    records: Vec<csv::StringRecord>,
}

/// Scores every row of the CSV at `path` (with `names` as its header when it has none) into
/// `sink`, one prediction per line. Returns the number of rows.
pub fn predict_csv(
    scorer: &Scorer,
    path: &Path,
    names: Option<&[String]>,
    with_features: bool,
    bar: &ProgressBar,
    sink: &mut Sink,
) -> Result<usize> {
    let reader = RowReader::for_pipeline(scorer.pipeline());
    // Only the header is trimmed here: every cell reader trims its text itself (and the CSV
    // crate's record trim rebuilds each record, a fifth of the reading time).
    let (mut rdr, slots) = crate::input::open_csv(path, names, csv::Trim::Headers, &reader, bar)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);

    std::thread::scope(|s| -> Result<usize> {
        let (recycle_tx, recycle_rx) = sync_channel::<Vec<csv::StringRecord>>(2 * workers + 2);
        let mut to_workers: Vec<SyncSender<Result<Work>>> = Vec::with_capacity(workers);
        let mut from_workers: Vec<Receiver<Result<Done>>> = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (work_tx, work_rx) = sync_channel::<Result<Work>>(1);
            let (done_tx, done_rx) = sync_channel::<Result<Done>>(1);
            let (reader, slots) = (&reader, &slots);
            s.spawn(move || {
                for work in work_rx {
                    let done = work.and_then(|w| score_chunk(scorer, reader, slots, w, with_features, path));
                    if done_tx.send(done).is_err() {
                        return;
                    }
                }
            });
            to_workers.push(work_tx);
            from_workers.push(done_rx);
        }
        let chunks = s.spawn(move || read_chunks(&mut rdr, path, &to_workers, &recycle_rx));
        let mut total = 0;
        for k in 0.. {
            // The reader ends each worker's stream after its last chunk, in the same rotation.
            let Ok(done) = from_workers[k % workers].recv() else { break };
            let done = done?;
            sink.write_all(&done.text)?;
            let _ = recycle_tx.try_send(done.records);
        }
        drop(from_workers);
        total += chunks.join().map_err(|_| anyhow!("the CSV reader thread panicked"))??;
        Ok(total)
    })
    .and_then(|n| if n == 0 { bail!("{} has no rows", path.display()) } else { Ok(n) })
}

/// Reads records into chunks and deals them to the workers in rotation; returns the row count.
/// A malformed record is sent in its chunk's place, so it is reported in input order.
fn read_chunks<R: Read>(
    rdr: &mut csv::Reader<R>,
    path: &Path,
    workers: &[SyncSender<Result<Work>>],
    recycled: &Receiver<Vec<csv::StringRecord>>,
) -> Result<usize> {
    let mut total = 0;
    for k in 0.. {
        let mut records = recycled.try_recv().unwrap_or_default();
        let mut len = 0;
        let mut failed = None;
        while len < CHUNK {
            if records.len() == len {
                records.push(csv::StringRecord::new());
            }
            match rdr.read_record(&mut records[len]) {
                Ok(true) => len += 1,
                Ok(false) => break,
                Err(e) => {
                    failed = Some(anyhow!(e).context(format!("{}: CSV row {}", path.display(), total + len + 1)));
                    break;
                }
            }
        }
        let last = len < CHUNK || failed.is_some();
        let work = match failed {
            Some(e) => Err(e),
            None => Ok(Work { start: total, records, len }),
        };
        total += len;
        if (len > 0 || work.is_err()) && workers[k % workers.len()].send(work).is_err() {
            // The writer stopped at an earlier error.
            return Ok(total);
        }
        if last {
            return Ok(total);
        }
    }
    unreachable!("the loop returns at the end of the input")
}

/// Features, scores and JSON lines for one chunk.
fn score_chunk(
    scorer: &Scorer,
    reader: &RowReader,
    slots: &[Option<usize>],
    w: Work,
    with_features: bool,
    path: &Path,
) -> Result<Done> {
    let columns = reader.columns().len();
    let mut cells: Vec<ValueRef<'_>> = Vec::with_capacity(w.len * columns);
    for (r, rec) in w.records[..w.len].iter().enumerate() {
        reader
            .slotted_text(slots, rec.iter(), w.start + r, &mut cells)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    }
    let (features, scores) = scorer.score_cells(&cells, columns).map_err(|e| anyhow!("{}", e.offset_row(w.start)))?;
    let width = scorer.pipeline().width();
    let mut text = Vec::with_capacity(w.len * 48);
    for (i, f) in features.chunks_exact(width).enumerate() {
        let p = scorer.interpret(scores.row(i), with_features.then(|| f.to_vec()))?;
        p.write_json(&mut text);
        text.push(b'\n');
    }
    Ok(Done { text, records: w.records })
}
