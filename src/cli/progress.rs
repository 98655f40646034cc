//! Progress on a terminal and Ctrl-C: a bar with rate and ETA on standard error for operations
//! that take a while (indicatif), silent without a terminal and with `-Format Json`; and an
//! interrupt that asks such an operation to stop where what it did so far commits whole.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use custkey::service::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::Form;
use super::Ctx;

/// Set by the first Ctrl-C during an operation that can stop cleanly.
static REQUESTED: AtomicBool = AtomicBool::new(false);
/// How many such operations are running (in this process).
static STOPPABLE: AtomicUsize = AtomicUsize::new(0);

/// Installs the Ctrl-C handler: during an operation that can stop cleanly the first Ctrl-C asks
/// it to stop at its next safe point (it then exits 130, keeping what it committed); otherwise,
/// or at a second Ctrl-C, custkey exits 130 at once, as without a handler (every write is
/// atomic, so nothing is left half-written).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        // The operation says that it is stopping when it next checks (above its progress bar).
        if STOPPABLE.load(Ordering::SeqCst) > 0 && !REQUESTED.swap(true, Ordering::SeqCst) {
        } else {
            std::process::exit(130);
        }
    });
}

/// Holds the process in "can stop cleanly" for its lifetime (the service, which drains its
/// requests at the first Ctrl-C instead of exiting at once).
pub struct Stoppable(());

impl Stoppable {
    pub fn hold() -> Stoppable {
        STOPPABLE.fetch_add(1, Ordering::SeqCst);
        Stoppable(())
    }
}

impl Drop for Stoppable {
    fn drop(&mut self) {
        STOPPABLE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether the operator asked the running operation to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// A progress bar for one operation, and its stop request. Dropped, it clears its line.
pub struct Bar {
    bar: Option<ProgressBar>,
    label: String,
    announced: AtomicBool,
    started: AtomicBool,
}

impl Bar {
    /// A bar labelled `label` (e.g. `Importing into alice`), shown when standard error is a
    /// terminal and the output is not JSON; drawn at most four times a second.
    pub fn new(ctx: &Ctx, label: impl Into<String>) -> Bar {
        use std::io::IsTerminal;
        STOPPABLE.fetch_add(1, Ordering::SeqCst);
        let show = std::io::stderr().is_terminal() && ctx.form != Some(Form::Json);
        let bar = show.then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            b.enable_steady_tick(Duration::from_millis(250));
            b
        });
        Bar {
            bar,
            label: label.into(),
            announced: AtomicBool::new(false),
            started: AtomicBool::new(false),
        }
    }
}

impl Bar {
    /// `done` of `total` units, for operations that learn their total as they go (a move, a
    /// geo's sites): the first call sets the bar up.
    pub fn count(&self, what: &'static str, done: u64, total: u64) {
        let Some(b) = &self.bar else { return };
        if !self.started.swap(true, Ordering::SeqCst) {
            self.start(what, Some(total));
        }
        b.set_length(total);
        b.set_position(done);
    }
}

impl Progress for Bar {
    fn start(&self, what: &'static str, total: Option<u64>) {
        let Some(b) = &self.bar else { return };
        let style = match (what, total) {
            ("bytes", Some(_)) => {
                "{msg} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}"
            }
            ("bytes", None) => "{spinner} {msg} {bytes} {binary_bytes_per_sec} {elapsed}",
            (_, Some(_)) => "{msg} {wide_bar} {pos}/{len} {rate} ETA {eta}",
            (_, None) => "{spinner} {msg} {pos} {rate} {elapsed}",
        };
        if let Ok(s) = ProgressStyle::with_template(style) {
            // Whole units a second (indicatif's own {per_sec} prints four decimals).
            b.set_style(s.with_key(
                "rate",
                |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", st.per_sec());
                },
            ));
        }
        b.set_length(total.unwrap_or(0));
        if total.is_none() {
            b.unset_length();
        }
        b.set_message(self.label.clone());
    }
    fn advance(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
    }
    fn cancelled(&self) -> bool {
        if !requested() {
            return false;
        }
        if !self.announced.swap(true, Ordering::SeqCst) {
            let say = || {
                eprintln!("Stopping after the current step; what was done so far is kept (press Ctrl-C again to stop at once).")
            };
            match &self.bar {
                Some(b) => b.suspend(say),
                None => say(),
            }
        }
        true
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        STOPPABLE.fetch_sub(1, Ordering::SeqCst);
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
