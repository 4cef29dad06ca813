//! Progress of long phases (epochs, evaluations, attacks), shared by every command.
//!
//! On a terminal (standard error), a bar with the step count, the rate and the time left;
//! otherwise, as in a log file or a pipe, plain lines on standard output: one every tenth
//! of a phase and one when it ends. Summary lines go through [`Progress::line`] so that
//! they never tear the bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

/// Plain log lines per phase when the output is not a terminal.
const PLAIN_LINES_PER_PHASE: usize = 10;

/// The bar's layout.
const BAR_TEMPLATE: &str = "{prefix} [{bar:30}] {pos}/{len} steps, {per_sec}, eta {eta} {msg}";

/// The progress of one phase at a time.
#[derive(Debug)]
pub struct Progress {
    /// The bar (hidden when not on a terminal).
    bar: ProgressBar,
    /// Whether the bar is drawn; plain lines otherwise.
    terminal: bool,
    /// What the phase is, such as `epoch 3`.
    label: String,
    /// Steps of the phase.
    total: usize,
    /// Steps done.
    done: usize,
    /// When the phase started.
    started: Instant,
}

impl Progress {
    /// A bar when standard error is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        Self::with_terminal(std::io::stderr().is_terminal())
    }

    /// A bar (`terminal`) or plain lines, whatever the output is.
    pub fn with_terminal(terminal: bool) -> Self {
        Self {
            bar: ProgressBar::hidden(),
            terminal,
            label: String::new(),
            total: 0,
            done: 0,
            started: Instant::now(),
        }
    }

    /// Starts a phase of `total` steps.
    pub fn start(&mut self, label: impl Into<String>, total: usize) {
        self.bar.finish_and_clear();
        self.label = label.into();
        self.total = total;
        self.done = 0;
        self.started = Instant::now();
        if self.terminal {
            let target = ProgressDrawTarget::stderr();
            self.bar = ProgressBar::with_draw_target(Some(total as u64), target);
            let style = ProgressStyle::with_template(BAR_TEMPLATE)
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            self.bar.set_style(style.progress_chars("=> "));
            self.bar.set_prefix(self.label.clone());
        }
    }

    /// One step done; `message` tells its figures (such as the loss).
    pub fn step(&mut self, message: &str) {
        self.done += 1;
        if self.terminal {
            self.bar.set_message(message.to_string());
            self.bar.inc(1);
            return;
        }
        let every = self.total.div_ceil(PLAIN_LINES_PER_PHASE).max(1);
        if self.done.is_multiple_of(every) || self.done == self.total {
            let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            let left = self.total.saturating_sub(self.done) as f64 / rate.max(1e-9);
            println!(
                "{} step {}/{} | {message} | {rate:.2} steps/s, eta {left:.0}s",
                self.label, self.done, self.total
            );
        }
    }

    /// Sets the bar's message without counting a step (ignored without a terminal).
    pub fn message(&self, message: &str) {
        self.bar.set_message(message.to_string());
    }

    /// Prints a line on standard output above the bar.
    pub fn line(&self, text: &str) {
        if self.terminal {
            self.bar.suspend(|| println!("{text}"));
        } else {
            println!("{text}");
        }
    }

    /// Ends the phase and clears its bar; returns its seconds.
    pub fn finish(&mut self) -> f64 {
        self.bar.finish_and_clear();
        self.started.elapsed().as_secs_f64()
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
