//! A program running in a sandbox, driven while it runs: stdin fed in pieces,
//! output as it comes, resource usage read from outside at any moment.
//!
//! Every backend hands out the same [`Session`]: its supervisor task owns the
//! process and enforces the run's [`crate::Limits`]; the session talks to it
//! through channels. [`crate::Sandbox::run`] is a session whose stdin is
//! closed at once and whose output is only collected.
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::{Result, RunOutcome, Stream};

/// Something that happened in a session, in order. Output chunks of one
/// stream arrive in the order written; the two streams are not ordered
/// against each other.
#[derive(Debug)]
pub enum Event {
    /// A chunk of output kept under the run's output cap.
    Output(Stream, Vec<u8>),
    /// The run is over and cleaned up; always the last event. The outcome
    /// holds the collected output too.
    Exited(Result<RunOutcome>),
}

/// Resources used so far by everything in the run, measured from outside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_time: Duration,
    pub memory_bytes: u64,
    /// Highest memory use since the start, or since the last
    /// [`Session::reset_peak_memory`] that succeeded.
    pub peak_memory_bytes: u64,
    /// Processes of the run killed so far by the kernel's OOM killer for
    /// going over the memory limit.
    pub oom_kills: u64,
}

/// Reads a run's resource usage (a backend's cgroup files).
pub trait UsageProbe: Send + Sync + fmt::Debug {
    fn usage(&self) -> std::io::Result<Usage>;
    /// Restarts the peak memory count from the current use. `false` when the
    /// backend cannot (then the peak stays the peak of the whole run).
    fn reset_peak_memory(&self) -> bool;
}

/// A running program. Dropping the session kills the run.
#[derive(Debug)]
pub struct Session {
    stdin: Option<mpsc::UnboundedSender<Vec<u8>>>,
    events: mpsc::UnboundedReceiver<Event>,
    probe: Arc<dyn UsageProbe>,
    kill: Option<oneshot::Sender<()>>,
    exited: bool,
}

/// Stdin was closed (by [`Session::close_stdin`]) or the program is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the program's stdin is closed")]
pub struct StdinClosed;

impl Session {
    /// For backends: `stdin` feeds the program's stdin until dropped, the
    /// supervisor sends `events` and ends the run when `kill` fires or is
    /// dropped.
    pub(crate) fn new(
        stdin: mpsc::UnboundedSender<Vec<u8>>,
        events: mpsc::UnboundedReceiver<Event>,
        probe: Arc<dyn UsageProbe>,
        kill: oneshot::Sender<()>,
    ) -> Self {
        Self {
            stdin: Some(stdin),
            events,
            probe,
            kill: Some(kill),
            exited: false,
        }
    }

    /// Queues bytes for the program's stdin. Never blocks: the program reads
    /// them at its own pace.
    pub fn write(&self, bytes: impl Into<Vec<u8>>) -> Result<(), StdinClosed> {
        let stdin = self.stdin.as_ref().ok_or(StdinClosed)?;
        stdin.send(bytes.into()).map_err(|_| StdinClosed)
    }

    /// Closes stdin once everything queued is written: the program reads EOF.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next event; `None` after [`Event::Exited`] was returned.
    pub async fn next_event(&mut self) -> Option<Event> {
        if self.exited {
            return None;
        }
        let event = self.events.recv().await;
        match event {
            Some(Event::Exited(_)) => self.exited = true,
            Some(Event::Output(..)) => {}
            None => self.exited = true,
        }
        event
    }

    /// Resources used so far. Fails once the run has been cleaned up.
    pub fn usage(&self) -> std::io::Result<Usage> {
        self.probe.usage()
    }

    /// See [`UsageProbe::reset_peak_memory`].
    pub fn reset_peak_memory(&self) -> bool {
        self.probe.reset_peak_memory()
    }

    /// Kills the run now; [`Event::Exited`] follows. The outcome names no
    /// limit unless one was also hit.
    pub fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }

    /// Closes stdin and waits for the end, handing every output chunk to
    /// `sink` as it arrives. The outcome still holds the collected output.
    pub async fn stream_to(
        mut self,
        mut sink: impl FnMut(crate::Stream, &[u8]) + Send,
    ) -> Result<RunOutcome> {
        self.close_stdin();
        while let Some(event) = self.next_event().await {
            match event {
                Event::Output(stream, bytes) => sink(stream, &bytes),
                Event::Exited(outcome) => return outcome,
            }
        }
        Err(crate::Error::Supervise(std::io::Error::other(
            "the supervisor ended without an outcome",
        )))
    }

    /// Closes stdin and waits for the end, skipping output events (the
    /// outcome holds the collected output).
    pub async fn wait(mut self) -> Result<RunOutcome> {
        self.close_stdin();
        while let Some(event) = self.next_event().await {
            if let Event::Exited(outcome) = event {
                return outcome;
            }
        }
        Err(crate::Error::Supervise(std::io::Error::other(
            "the supervisor ended without an outcome",
        )))
    }
}
