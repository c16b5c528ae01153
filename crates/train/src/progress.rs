//! Progress bars (indicatif) and clean interruption for long training work. Ctrl-C sets a flag
//! that training loops check between steps; the job then fails with `TrainError::Interrupted`
//! and, because bundles are written atomically, leaves nothing half-written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::TrainError;

/// A progress reporter plus the interrupt flag.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    interrupted: Arc<AtomicBool>,
}

impl Progress {
    /// A reporter that draws nothing (tests, library use).
    pub fn hidden() -> Self {
        Progress { bar: ProgressBar::hidden(), interrupted: Arc::new(AtomicBool::new(false)) }
    }

    /// A reporter drawing on stderr, interrupted by `flag`.
    pub fn stderr(flag: Arc<AtomicBool>) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
        Progress { bar, interrupted: flag }
    }

    /// Starts a stage of `len` steps.
    pub fn start(&self, what: &str, len: u64) {
        self.bar.reset();
        self.bar.set_length(len);
        self.bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        self.bar.set_prefix(what.to_string());
    }

    pub fn set(&self, pos: u64, msg: &str) {
        self.bar.set_position(pos);
        self.bar.set_message(msg.to_string());
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Err if the user asked to stop.
    pub fn check_interrupted(&self) -> Result<(), TrainError> {
        if self.interrupted.load(Ordering::Relaxed) {
            self.bar.abandon();
            Err(TrainError::Interrupted)
        } else {
            Ok(())
        }
    }
}
