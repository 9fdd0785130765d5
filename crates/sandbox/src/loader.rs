//! The loader: a sandbox's first process, and the protocol that drives it.
//!
//! Both backends keep sandboxes started ahead of time (a Docker container, a
//! bubblewrap sandbox) with the loader as their first process (PID 1 of the
//! sandbox's pid namespace), blocked on its stdin. A run writes, on that
//! stdin, a random 32-byte nonce, a length-prefixed JSON header (argv,
//! environment, rlimits, the input files' paths and sizes), the files'
//! contents, and then the program's own stdin. The loader writes the files
//! into the `/work` tmpfs, forks, and the child execs the program with
//! exactly [`crate::RunSpec::env`] (plus `PWD`), its rlimits and a session
//! of its own. So the program is PID 2 under an init of its own, as under a
//! cold bubblewrap.
//!
//! As init, the loader reaps orphans. When the program has exited it kills
//! whatever the program left behind, then writes a *trailer* (the nonce and
//! the exit status) as the last bytes of stdout and of stderr, and stays
//! alive. The sandbox therefore lives on after the program, and so does
//! its cgroup: the supervisor reads the final CPU time, memory peak and OOM
//! count there before it tears the sandbox down (Docker deletes a
//! container's cgroup as soon as its PID 1 exits). The nonce marks where the
//! program's output ends; a program that guessed it could only end its own
//! run early with a status of its choosing, which it can do anyway.
//!
//! The loader is Python because the Docker image has nothing else worth
//! writing it in (and natively it needs nothing beyond the python3 that is
//! bound in anyway), and it starts while the sandbox waits in its pool: a
//! run only pays for its `fork` and `execve`.
//!
//! [`supervise`] is the one supervisor of a loader-driven run, for both
//! backends: it splits the output from the trailers, enforces the wall-time,
//! CPU and output limits and builds the [`RunOutcome`]; what differs (how to
//! read the CPU counter, how to kill, where the final numbers come from) is
//! behind [`LoadedRun`].
use std::future::Future;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use nix::libc;
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use crate::native::{Captured, finish, sleep_until_opt};
use crate::{
    Error, Event, ExitStatus, LimitKind, Limits, Result, RunOutcome, RunSpec, Stream as OutStream,
};

/// Bytes of the nonce that starts the header and each trailer.
pub(crate) const NONCE_LEN: usize = 32;
/// Bytes of a trailer after its nonce: a kind (`x` exit code, `s` signal,
/// `f` the loader failed before the program started) and `%+011d`.
pub(crate) const STATUS_LEN: usize = 12;

/// PID 1 of a pooled sandbox: `python3 -I -S -c LOADER <idle seconds>`.
/// It exits on its own after `<idle seconds>` without a run, and again that
/// long after a run, so a sandbox whose owner died goes away by itself.
pub(crate) const LOADER: &str = r#"
import json, os, resource, select, signal, sys

def main():
    idle = float(sys.argv[1])
    if not select.select([0], [], [], idle)[0]:
        return

    def read(n):
        parts = []
        while n > 0:
            chunk = os.read(0, min(n, 1 << 16))
            if not chunk:
                raise EOFError("stdin ended inside the run's header")
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def write_all(fd, data):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    nonce = read(32)

    def trailer(kind, value):
        record = nonce + (kind + "%+011d" % value).encode()
        for fd in (1, 2):
            try:
                write_all(fd, record)
            except OSError:
                pass
        select.select([], [], [], idle)

    try:
        header = json.loads(read(int.from_bytes(read(4), "big")))
        for path, size in header["files"]:
            full = "/work/" + path
            os.makedirs(os.path.dirname(full), exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(full, flags, 0o644)
            try:
                while size > 0:
                    chunk = read(min(size, 1 << 16))
                    write_all(fd, chunk)
                    size -= len(chunk)
            finally:
                os.close(fd)
    except BaseException as e:
        write_all(2, ("pydojo-loader: %s: %s\n" % (type(e).__name__, e)).encode())
        trailer("f", 0)
        return

    child = os.fork()
    if child == 0:
        try:
            os.setsid()
            for name, value in header["rlimits"]:
                resource.setrlimit(getattr(resource, name), (value, value))
            env = {"PWD": "/work"}
            env.update(header["env"])
            argv = header["argv"]
            prog = argv[0]
            if "/" in prog:
                candidates = [prog]
            else:
                path = env.get("PATH", "/usr/bin:/bin")
                candidates = [d + "/" + prog for d in path.split(":") if d]
            error = None
            for candidate in candidates:
                try:
                    os.execve(candidate, argv, env)
                except OSError as e:
                    if error is None or e.errno != 2:
                        error = e
            reason = os.strerror(error.errno) if error else "not found"
            write_all(2, ("pydojo-loader: execvp %s: %s\n" % (prog, reason)).encode())
        except BaseException as e:
            write_all(2, ("pydojo-loader: %s\n" % e).encode())
        os._exit(1)

    os.close(0)
    status = 0
    while True:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            break
        if pid == child:
            status = st
            break
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.wait()
        except ChildProcessError:
            break
    if os.WIFSIGNALED(status):
        trailer("s", os.WTERMSIG(status))
    else:
        trailer("x", os.WEXITSTATUS(status))

main()
"#;

/// The JSON header the loader reads after the nonce.
#[derive(Debug, Serialize)]
struct Header<'a> {
    argv: &'a [String],
    env: &'a [(String, String)],
    files: Vec<(&'a str, usize)>,
    rlimits: Vec<(&'static str, u64)>,
}

/// Everything the loader reads before the program's stdin: the nonce, the
/// header and the files' contents.
pub(crate) fn preamble(nonce: &[u8; NONCE_LEN], spec: &RunSpec) -> Vec<u8> {
    let header = Header {
        argv: &spec.program,
        env: &spec.env,
        files: spec
            .files
            .iter()
            .map(|(path, contents)| (path.as_str(), contents.len()))
            .collect(),
        rlimits: rlimits(&spec.limits),
    };
    let json = serde_json::to_vec(&header).expect("the header serialises");
    let files: usize = spec.files.iter().map(|(_, c)| c.len()).sum();
    let mut bytes = Vec::with_capacity(NONCE_LEN + 4 + json.len() + files);
    bytes.extend_from_slice(nonce);
    let len = u32::try_from(json.len()).expect("validated specs have small headers");
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(&json);
    for (_, contents) in &spec.files {
        bytes.extend_from_slice(contents);
    }
    bytes
}

/// The same rlimits as a cold native run (see `native::set_rlimits`): CPU
/// rounded up plus one second as a second fence behind the cgroup, the file
/// size limit, no core dumps.
fn rlimits(limits: &Limits) -> Vec<(&'static str, u64)> {
    let cpu_secs = limits.cpu_time.as_secs() + 1 + u64::from(limits.cpu_time.subsec_nanos() > 0);
    vec![
        ("RLIMIT_CPU", cpu_secs),
        ("RLIMIT_FSIZE", limits.file_size_bytes),
        ("RLIMIT_CORE", 0),
    ]
}

/// How the program ended, as the loader's trailer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Exited(i32),
    Signalled(i32),
    /// The loader could not set the run up (its message is on stderr).
    LoaderFailed,
}

pub(crate) fn parse_status(bytes: &[u8]) -> Option<Status> {
    let (&kind, value) = bytes.split_first()?;
    let value: i32 = std::str::from_utf8(value).ok()?.parse().ok()?;
    match kind {
        b'x' => Some(Status::Exited(value)),
        b's' => Some(Status::Signalled(value)),
        b'f' => Some(Status::LoaderFailed),
        _ => None,
    }
}

/// Splits one output stream into the program's bytes and the loader's
/// trailer. Bytes that could be the start of the nonce are held back until
/// the next chunk shows they are not; normal output never is, so streaming
/// is not delayed.
#[derive(Debug)]
pub(crate) struct Demux {
    nonce: [u8; NONCE_LEN],
    held: Vec<u8>,
    /// Bytes after the nonce, once it was seen.
    trailer: Option<Vec<u8>>,
}

impl Demux {
    pub(crate) fn new(nonce: [u8; NONCE_LEN]) -> Self {
        Self {
            nonce,
            held: Vec::new(),
            trailer: None,
        }
    }

    /// Feeds a chunk; returns the part that is the program's output.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if let Some(trailer) = &mut self.trailer {
            let room = STATUS_LEN.saturating_sub(trailer.len());
            trailer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            return Vec::new();
        }
        self.held.extend_from_slice(chunk);
        if let Some(at) = find(&self.held, &self.nonce) {
            let mut trailer = self.held.split_off(at);
            trailer.drain(..NONCE_LEN);
            trailer.truncate(STATUS_LEN);
            self.trailer = Some(trailer);
            return std::mem::take(&mut self.held);
        }
        let keep = (1..NONCE_LEN.min(self.held.len() + 1))
            .rev()
            .find(|&k| self.held.ends_with(&self.nonce[..k]))
            .unwrap_or(0);
        let rest = self.held.split_off(self.held.len() - keep);
        std::mem::replace(&mut self.held, rest)
    }

    /// The trailer's status, once it is complete.
    pub(crate) fn status(&self) -> Option<Status> {
        self.trailer
            .as_deref()
            .filter(|t| t.len() == STATUS_LEN)
            .and_then(parse_status)
    }

    /// Whether the whole trailer has arrived.
    pub(crate) fn ended(&self) -> bool {
        self.trailer.as_ref().is_some_and(|t| t.len() == STATUS_LEN)
    }

    /// Output held back when the stream ended without a trailer.
    pub(crate) fn take_held(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A fresh random nonce, as printable hex (it travels through JSON-free
/// byte streams, but printable is easier to debug).
pub(crate) fn nonce() -> std::io::Result<[u8; NONCE_LEN]> {
    use std::io::Read as _;
    let mut raw = [0u8; NONCE_LEN / 2];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    let mut out = [0u8; NONCE_LEN];
    for (i, b) in raw.iter().enumerate() {
        let hex = format!("{b:02x}");
        out[2 * i..2 * i + 2].copy_from_slice(hex.as_bytes());
    }
    Ok(out)
}

/// How often the supervisor samples CPU time.
const CPU_POLL: Duration = Duration::from_millis(50);
/// How long to wait for the loader's trailers once the program is gone.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// A chunk of the sandbox's output, before the trailer is split off.
pub(crate) type Chunk = std::io::Result<(OutStream, Vec<u8>)>;

/// What a backend knows at the end of a run.
#[derive(Debug, Default)]
pub(crate) struct Final {
    pub(crate) cpu: Duration,
    pub(crate) peak_memory: u64,
    pub(crate) oom_killed: bool,
    /// Only where OOM kills are not counted (the Docker stats API): usage
    /// reached the memory limit at some point, so a SIGKILL nobody here
    /// sent is the OOM killer's.
    pub(crate) memory_limit_reached: bool,
    pub(crate) pids_refused: bool,
}

/// One backend's side of a loader-driven run, for [`supervise`].
pub(crate) trait LoadedRun: Sync {
    /// Names the sandbox in logs (a container id, a cgroup).
    fn name(&self) -> &str;
    /// CPU time of the run so far, if it can be read now.
    fn cpu(&self) -> Option<Duration>;
    /// Kills the program's processes. Returns `true` when the loader went
    /// too (so no trailer will come).
    fn kill_program(&self) -> impl Future<Output = bool> + Send;
    /// The run's final numbers, read once the program is gone.
    fn final_stats(&self) -> impl Future<Output = Final> + Send;
    /// The exit status when the loader wrote no trailer; `killed`: the
    /// supervisor killed the loader with the program.
    fn exit_without_trailer(&self, killed: bool)
    -> impl Future<Output = Result<ExitStatus>> + Send;
}

/// Starts writing the loader's stdin: `preamble`, then the run's own
/// `stdin`, then what the session writes through the returned sender.
pub(crate) fn open_stdin(
    input: impl AsyncWrite + Unpin + Send + 'static,
    preamble: Vec<u8>,
    stdin: Vec<u8>,
) -> mpsc::UnboundedSender<Vec<u8>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(preamble);
    if !stdin.is_empty() {
        let _ = tx.send(stdin);
    }
    tokio::spawn(feed_stdin(input, rx));
    tx
}

/// Writes the session's stdin into the sandbox's; the channel ending (the
/// session closed stdin or went away) closes it.
async fn feed_stdin(mut input: impl AsyncWrite + Unpin, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        // EPIPE when the program exits without reading: not our concern.
        if input.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = input.shutdown().await;
}

/// Watches a run until the loader's trailers (or the sandbox's end):
/// enforces the wall-time, CPU and output limits, forwards kept output as
/// events, and builds the outcome. The preamble must already be on its way
/// to the loader's stdin.
pub(crate) async fn supervise(
    run: &impl LoadedRun,
    limits: &Limits,
    nonce: [u8; NONCE_LEN],
    mut output: impl Stream<Item = Chunk> + Unpin,
    events: &mpsc::UnboundedSender<Event>,
    mut kill_rx: oneshot::Receiver<()>,
) -> Result<RunOutcome> {
    let started = Instant::now();
    let cap = usize::try_from(limits.output_bytes).unwrap_or(usize::MAX);
    let mut out = Captured::new(cap);
    let mut err = Captured::new(cap);
    let mut out_demux = Demux::new(nonce);
    let mut err_demux = Demux::new(nonce);
    let deadline = started + limits.wall_time;
    let mut cpu_tick = tokio::time::interval(CPU_POLL);
    cpu_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);

    let mut killed_for: Option<LimitKind> = None;
    let mut kill_requested = false;
    let mut loader_killed = false;
    let mut wall_time: Option<Duration> = None;
    let mut output_open = true;
    let mut drain_deadline: Option<Instant> = None;

    let push = |stream: OutStream, bytes: &[u8], out: &mut Captured, err: &mut Captured| {
        let captured = match stream {
            OutStream::Stdout => out,
            OutStream::Stderr => err,
        };
        if let Some(kept) = captured.push(bytes) {
            let _ = events.send(Event::Output(stream, kept.to_vec()));
        }
        captured.truncated
    };

    while output_open && !(out_demux.ended() && err_demux.ended()) {
        let program_done = wall_time.is_some();
        tokio::select! {
            item = output.next() => match item {
                Some(Ok((stream, message))) => {
                    let demux = match stream {
                        OutStream::Stdout => &mut out_demux,
                        OutStream::Stderr => &mut err_demux,
                    };
                    let program = demux.push(&message);
                    let truncated = push(stream, &program, &mut out, &mut err);
                    if stream == OutStream::Stdout && out_demux.ended() && wall_time.is_none() {
                        wall_time = Some(started.elapsed());
                        drain_deadline = Some(Instant::now() + DRAIN_GRACE);
                    }
                    if truncated && killed_for.is_none() && wall_time.is_none() {
                        killed_for = Some(LimitKind::Output);
                        loader_killed |= run.kill_program().await;
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(sandbox = %run.name(), error = %e, "output stream failed");
                    output_open = false;
                }
                None => output_open = false,
            },
            // Fires on `Session::kill` and when the session is dropped.
            _ = &mut kill_rx, if !kill_requested && !program_done => {
                kill_requested = true;
                loader_killed |= run.kill_program().await;
            }
            () = tokio::time::sleep_until(deadline), if !program_done && killed_for.is_none() => {
                killed_for = Some(LimitKind::Wall);
                loader_killed |= run.kill_program().await;
            }
            _ = cpu_tick.tick(), if !program_done && killed_for.is_none() => {
                if run.cpu().is_some_and(|used| used >= limits.cpu_time) {
                    killed_for = Some(LimitKind::Cpu);
                    loader_killed |= run.kill_program().await;
                }
            }
            () = sleep_until_opt(drain_deadline), if drain_deadline.is_some() => {
                tracing::warn!(sandbox = %run.name(), "no trailer on stderr after the program ended");
                break;
            }
        }
    }
    // Output held back as a possible nonce prefix when a stream ended
    // without its trailer belongs to the program.
    let held = out_demux.take_held();
    push(OutStream::Stdout, &held, &mut out, &mut err);
    let held = err_demux.take_held();
    push(OutStream::Stderr, &held, &mut out, &mut err);

    let stats = run.final_stats().await;
    let wall_time = wall_time.unwrap_or_else(|| started.elapsed());
    let exit = match out_demux.status() {
        Some(Status::Exited(code)) => ExitStatus::Code(code),
        Some(Status::Signalled(signal)) => ExitStatus::Signal(signal),
        Some(Status::LoaderFailed) => {
            return Err(Error::Supervise(std::io::Error::other(format!(
                "the sandbox loader failed: {}",
                String::from_utf8_lossy(&err.bytes).trim()
            ))));
        }
        // No trailer: the sandbox itself ended (killed by us, or its
        // loader died).
        None => run.exit_without_trailer(loader_killed).await?,
    };
    // Where OOM kills are not counted, a SIGKILL nobody here sent after
    // usage reached the memory limit is the OOM killer.
    let oom_killed = stats.oom_killed
        || (killed_for.is_none()
            && !kill_requested
            && exit == ExitStatus::Signal(libc::SIGKILL)
            && stats.memory_limit_reached);
    let stats = crate::native::Stats {
        cpu: stats.cpu,
        peak_memory: stats.peak_memory,
        oom_killed,
        pids_refused: stats.pids_refused,
    };
    Ok(finish(limits, killed_for, exit, wall_time, stats, out, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: [u8; NONCE_LEN] = *b"0123456789abcdef0123456789abcdef";

    fn trailer(status: &str) -> Vec<u8> {
        [&NONCE[..], status.as_bytes()].concat()
    }

    #[test]
    fn passes_output_through_and_finds_the_trailer_split_over_chunks() {
        let mut demux = Demux::new(NONCE);
        assert_eq!(demux.push(b"hello\n"), b"hello\n");
        let all = [b"tail".as_slice(), &trailer("x+0000000003")].concat();
        let mut out = Vec::new();
        for piece in all.chunks(5) {
            out.extend(demux.push(piece));
        }
        assert_eq!(out, b"tail");
        assert!(demux.ended());
        assert_eq!(demux.status(), Some(Status::Exited(3)));
    }

    #[test]
    fn releases_held_bytes_that_turned_out_not_to_be_the_nonce() {
        let mut demux = Demux::new(NONCE);
        assert_eq!(demux.push(b"abc0123"), b"abc");
        assert_eq!(demux.push(b"x"), b"0123x");
        assert!(!demux.ended());
    }

    #[test]
    fn parses_signal_and_loader_failure_statuses() {
        assert_eq!(parse_status(b"s+0000000009"), Some(Status::Signalled(9)));
        assert_eq!(parse_status(b"x-0000000001"), Some(Status::Exited(-1)));
        assert_eq!(parse_status(b"f+0000000000"), Some(Status::LoaderFailed));
        assert_eq!(parse_status(b"?+0000000000"), None);
    }

    #[test]
    fn the_preamble_starts_with_the_nonce_and_a_length_prefixed_header() {
        let spec = RunSpec::new(["python3", "main.py"]).file("main.py", "print(1)");
        let bytes = preamble(&NONCE, &spec);
        assert_eq!(&bytes[..NONCE_LEN], &NONCE);
        let len = u32::from_be_bytes(bytes[NONCE_LEN..NONCE_LEN + 4].try_into().unwrap());
        let json_end = NONCE_LEN + 4 + len as usize;
        let header: serde_json::Value =
            serde_json::from_slice(&bytes[NONCE_LEN + 4..json_end]).unwrap();
        assert_eq!(header["files"][0][0], "main.py");
        assert_eq!(&bytes[json_end..], b"print(1)");
    }
}
