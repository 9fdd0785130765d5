//! The judge: turns a submission into sandbox runs and a verdict.
//!
//! # What this crate owns
//! [`Judge`], which runs a Python 3 submission against a problem's examples
//! and hidden tests and returns a [`domain::submission::Verdict`]; the Python
//! harness ([`HARNESS`]) that calls a function problem's entry point inside
//! the sandbox; the output checkers ([`check_output`] and friends); and the
//! two ways a submission reaches a judge: the in-process [`EmbeddedQueue`],
//! and the distributed path over NATS JetStream ([`Outbox`] and
//! [`ResultsConsumer`] in the API nodes, [`Worker`] in `pydojo executor`;
//! shared names and messages in [`nats`]).
//!
//! # What it may depend on
//! `domain` (problem specs and verdict types, nothing with IO) and the
//! `sandbox` trait; any [`sandbox::Sandbox`] works, which is how tests inject
//! a failing one. The queues also use `store` and `commands` (the log and the
//! one-verdict rule) and `async-nats`. Nothing depends on this crate but the
//! binary, which wires them together.
//!
//! # Key design decisions
//! * **Expected outputs never enter the sandbox.** The user's process only
//!   ever sees its input; the comparison happens here, in Rust. A solution
//!   that learns how the harness reports can at most claim a return value,
//!   which it could simply have returned.
//! * **One sandbox run per judgement, one forked child per test.** The
//!   harness compiles the solution and (function problems) runs the module
//!   and checks the entry point's name and parameter count, so a wrong
//!   signature is a `CompileError` rather than a `RuntimeError` on test 1.
//!   It then reads one test at a time from stdin and forks a child for it,
//!   so every test starts from the state right after loading and the
//!   interpreter's start-up is paid once. The judge sends a test only after
//!   the previous one ended, examples first, and stops at the first failure
//!   as LeetCode does: later (hidden) inputs never enter the sandbox, and a
//!   child's stdin is empty (function) or its own input (stdio).
//! * **Each test is measured from outside, between its input and its end.**
//!   The judge reads the run's cgroup (CPU time, peak memory restarted
//!   before each test where the kernel allows, OOM kills) when it sends a
//!   test and when the harness reports the child's end, and stops a test
//!   that goes over its CPU, wall or output budget itself, polling every
//!   10 ms. The run's own sandbox limits are the sum of the steps', a fence
//!   behind the judge's.
//! * **The harness's report follows a random delimiter line on stdout.** The
//!   judge makes a fresh 122-bit delimiter for every run and sends it on
//!   stdin, which the harness reads to the end before importing
//!   `solution.py`: it is not in the environment (where
//!   `/proc/self/environ` would keep it even after `del os.environ[..]`), a
//!   file, or an unread pipe. The harness writes on a duplicate of the
//!   original stdout, after flushing the user's prints, and the judge takes
//!   the report after the *last* delimiter line; so the user's `print()`s
//!   before it are harmless and a guessed delimiter matches nothing. The
//!   delimiter does live in the harness's memory while the solution runs
//!   (same process), so a solution walking interpreter frames could find
//!   it; by the first point above that gains nothing. A separate descriptor
//!   (fd 3) would be no safer for the same reason, and the sandbox offers
//!   only stdout and stderr.
//! * **Hidden tests stay hidden.** A failure on a hidden test gives its
//!   kind, and for an exception only its class name, and only when it is
//!   one of Python's built-in classes: an exception message
//!   (`int('…')`) or a traceback can quote the input. Only a `WrongAnswer`
//!   on an example fills `failed_example`. (The verdict kind itself is an
//!   unavoidable side channel of any judge.)
//! * **The log is the queue, and the outbox.** Neither path pushes anything
//!   after an append: both tail the event log from a checkpoint, and the
//!   domain's rule of one verdict per submission makes every repeat harmless.
//! * **Limits come from the sandbox, measured from outside**: CPU time,
//!   peak memory, OOM kills and output size decide TLE, MLE and OLE;
//!   `runtime_ms` and `memory_kb` are the maxima over the tests run.

mod checker;
mod follow;
mod judge;

pub use checker::{check_json, check_output, check_text};
pub use judge::{HARNESS, Judge, JudgeConfig};

mod queue;
pub use queue::{EmbeddedQueue, FileCheckpoint, ProgressSink, QueueError, Step};

pub mod nats;
mod outbox;
mod results;
pub mod testing;
mod worker;
pub use outbox::{Outbox, OutboxStats};
pub use results::{ResultsConsumer, ResultsStats};
pub use worker::{Worker, WorkerConfig, WorkerStats};
