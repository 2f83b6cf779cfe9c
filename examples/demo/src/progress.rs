//! The traffic generator's progress: a bar redrawn in place on a terminal
//! (stderr), a plain line every 10 requests otherwise. Trace trees written
//! meanwhile go through [`Progress::writer`], which clears the bar, writes,
//! and redraws it, so the two never share a line.

use std::io::{IsTerminal as _, Write};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct State {
    total: usize,
    done: usize,
    errors: usize,
    drawn: bool,
}

/// Shared by the generator and the trace printer's writer.
#[derive(Clone)]
pub struct Progress {
    state: Arc<Mutex<State>>,
    terminal: bool,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            state: Arc::default(),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    pub fn start(&self, total: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.total = total;
            self.draw(&mut state);
        }
    }

    pub fn set(&self, done: usize, errors: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.done = done;
            state.errors = errors;
            if self.terminal {
                self.draw(&mut state);
            } else if done.is_multiple_of(10) || done == state.total {
                eprintln!("traffic: {done}/{} orders, {errors} errors", state.total);
            }
        }
    }

    pub fn finish(&self) {
        if let Ok(mut state) = self.state.lock() {
            self.clear(&mut state);
            state.total = 0;
        }
    }

    fn draw(&self, state: &mut State) {
        if !self.terminal || state.total == 0 {
            return;
        }
        const WIDTH: usize = 30;
        let filled = state.done * WIDTH / state.total.max(1);
        eprint!(
            "\r\x1b[2Ktraffic [{}{}] {}/{} orders, {} errors",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            state.done,
            state.total,
            state.errors
        );
        let _ = std::io::stderr().flush();
        state.drawn = true;
    }

    fn clear(&self, state: &mut State) {
        if state.drawn {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            state.drawn = false;
        }
    }

    /// A writer for text that must not land on the bar's line.
    pub fn writer(&self) -> ProgressWriter {
        ProgressWriter(self.clone())
    }
}

/// See [`Progress::writer`].
pub struct ProgressWriter(Progress);

impl Write for ProgressWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let progress = &self.0;
        let mut state = progress
            .state
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        progress.clear(&mut state);
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(bytes)?;
        stdout.flush()?;
        drop(stdout);
        progress.draw(&mut state);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}
