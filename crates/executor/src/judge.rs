//! One submission against one problem: a compile run, then one sandbox run
//! per test, examples first, stopping at the first failure.

use std::time::Duration;

use domain::problem::{ProblemKind, ProblemSpec, TestCase};
use domain::submission::{FailedExample, TestOutcome, Verdict, VerdictKind};
use sandbox::{
    Event, ExitStatus, LimitKind, Limits, RunOutcome, RunSpec, Sandbox, Session, Stream, Usage,
};
use serde::Deserialize;

use crate::checker::check_output;

/// The fixed Python file that loads `solution.py` and calls the entry point;
/// see its docstring for the protocol.
pub const HARNESS: &str = include_str!("harness.py");
const HARNESS_FILE: &str = "judge_harness.py";
const SOLUTION_FILE: &str = "solution.py";
/// Longest `actual` shown in a [`FailedExample`].
const ACTUAL_MAX: usize = 4 * 1024;

/// Settings of the judge that are not the problem's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeConfig {
    /// The interpreter, looked up inside the sandbox.
    pub python: String,
    /// Cap on stdout and on stderr of each run.
    pub output_bytes: u64,
    /// Tasks (processes and threads) a run may have at once.
    pub max_processes: u32,
    /// Wall-clock limit = `wall_factor` × CPU limit + `wall_extra`: a
    /// program that sleeps or blocks is stopped too, with slack for a busy
    /// host.
    pub wall_factor: u32,
    pub wall_extra: Duration,
    /// CPU limit of the compile run, at least; importing `inspect` and
    /// compiling a large file should not eat a tight problem's budget.
    pub compile_cpu_floor: Duration,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        Self {
            python: "python3".into(),
            output_bytes: 1 << 20,
            max_processes: 8,
            wall_factor: 3,
            wall_extra: Duration::from_secs(1),
            compile_cpu_floor: Duration::from_secs(2),
        }
    }
}

/// Judges submissions with a [`Sandbox`]. Holds no state between calls, so
/// one judge may serve many submissions at once.
#[derive(Debug)]
pub struct Judge<S> {
    sandbox: S,
    config: JudgeConfig,
}

/// What the harness wrote after the delimiter (see harness.py).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Report {
    Ok(serde_json::Value),
    CompileError(String),
    Error(PyError),
    Exited(i64),
    End(ChildEnd),
}

#[derive(Debug, Deserialize)]
struct PyError {
    #[serde(rename = "type")]
    kind: String,
    message: String,
    traceback: String,
}

/// How a test's child process ended, as the harness's parent saw it.
#[derive(Debug, Clone, Copy, Deserialize)]
struct ChildEnd {
    exit: Option<i32>,
    signal: Option<i32>,
}

/// How a single test ended, before it becomes part of a verdict.
#[derive(Debug)]
enum Ending {
    /// The program produced an output to check (JSON text or stdout).
    Output(String),
    Failed {
        kind: VerdictKind,
        /// For the user, when the test is visible.
        message: Option<String>,
        /// The exception's class, which is all a hidden test's failure shows.
        exception: Option<String>,
    },
}

impl Ending {
    fn failed(kind: VerdictKind, message: Option<String>) -> Self {
        Ending::Failed {
            kind,
            message,
            exception: None,
        }
    }
}

/// What waiting for the harness's next report gave.
#[derive(Debug)]
enum Next {
    /// A report, with what the program printed before it.
    Report {
        printed: Vec<u8>,
        report: Option<Report>,
    },
    /// The judge stopped the run for going over a per-step limit.
    Stopped(LimitKind),
    /// The whole run ended (the harness itself died or a run-wide limit).
    Ended(sandbox::Result<RunOutcome>),
}

/// Limits of one step (the load, or one test), checked by the judge from
/// the cgroup while it waits.
#[derive(Debug, Clone, Copy)]
struct Budget {
    cpu: Duration,
    wall: Duration,
    output: u64,
}

/// How often the judge reads the run's CPU counter while a step runs.
const CPU_POLL: Duration = Duration::from_millis(10);

/// One judgement's sandboxed harness: its session and the reports read so
/// far from its stdout.
struct Harness {
    session: Session,
    /// `\n<delimiter>\n`.
    marker: Vec<u8>,
    buffer: Vec<u8>,
}

impl Harness {
    /// Waits for the next report while enforcing `budget` from `start`.
    async fn next(&mut self, budget: Budget, start: &StepStart) -> Next {
        let mut printed = 0u64;
        let deadline = start.at + budget.wall;
        let mut tick = tokio::time::interval(CPU_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Some((printed, report)) = take_report(&mut self.buffer, &self.marker) {
                return Next::Report { printed, report };
            }
            tokio::select! {
                event = self.session.next_event() => match event {
                    Some(Event::Output(Stream::Stdout, bytes)) => {
                        printed += bytes.len() as u64;
                        self.buffer.extend_from_slice(&bytes);
                        if printed > budget.output + self.marker.len() as u64 + 1024 {
                            self.session.kill();
                            return Next::Stopped(LimitKind::Output);
                        }
                    }
                    Some(Event::Output(Stream::Stderr, _)) => {}
                    Some(Event::Exited(outcome)) => return Next::Ended(outcome),
                    None => {
                        return Next::Ended(Err(sandbox::Error::Supervise(std::io::Error::other(
                            "the session ended without an outcome",
                        ))));
                    }
                },
                _ = tick.tick() => {
                    if self.cpu_since(start) >= budget.cpu {
                        self.session.kill();
                        return Next::Stopped(LimitKind::Cpu);
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.session.kill();
                    return Next::Stopped(LimitKind::Wall);
                }
            }
        }
    }

    fn cpu_since(&self, start: &StepStart) -> Duration {
        self.session
            .usage()
            .map(|u| u.cpu_time.saturating_sub(start.usage.cpu_time))
            .unwrap_or_default()
    }

    /// Marks the start of a step: peak memory restarts from here.
    fn start_step(&self) -> StepStart {
        let reset = self.session.reset_peak_memory();
        StepStart {
            at: tokio::time::Instant::now(),
            usage: self.session.usage().unwrap_or_default(),
            peak_reset: reset,
        }
    }

    /// Ends the run (the harness exits on EOF; a kill covers the rest) and
    /// waits until the sandbox has cleaned it up.
    async fn finish(mut self) {
        self.session.close_stdin();
        self.session.kill();
        let _ = self.session.wait().await;
    }
}

#[derive(Debug)]
struct StepStart {
    at: tokio::time::Instant,
    usage: Usage,
    peak_reset: bool,
}

/// The next complete report in `buffer` (a line after `marker`), with what
/// was printed before it; both are removed from the buffer. The report is
/// `None` when the line is not a report.
fn take_report(buffer: &mut Vec<u8>, marker: &[u8]) -> Option<(Vec<u8>, Option<Report>)> {
    let at = find(buffer, marker)?;
    let body_start = at + marker.len();
    let newline = buffer[body_start..].iter().position(|&b| b == b'\n')? + body_start;
    let report = serde_json::from_slice(&buffer[body_start..newline]).ok();
    let printed = buffer[..at].to_vec();
    buffer.drain(..=newline);
    Some((printed, report))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<S: Sandbox> Judge<S> {
    pub fn new(sandbox: S) -> Self {
        Self::with_config(sandbox, JudgeConfig::default())
    }

    pub fn with_config(sandbox: S, config: JudgeConfig) -> Self {
        Self { sandbox, config }
    }

    pub fn sandbox(&self) -> &S {
        &self.sandbox
    }

    /// Judges `code` against every test of `spec`. Never fails: a broken
    /// sandbox is an [`VerdictKind::InternalError`] verdict.
    pub async fn judge(&self, spec: &ProblemSpec, code: &str) -> Verdict {
        self.judge_with_progress(spec, code, |_| {}).await
    }

    /// [`Judge::judge`], calling `on_test` with each test's outcome as soon
    /// as it is known (for live progress; hidden tests appear as hidden,
    /// without input or output).
    #[tracing::instrument(skip_all, fields(tests = spec.examples.len() + spec.hidden_tests.len()))]
    pub async fn judge_with_progress(
        &self,
        spec: &ProblemSpec,
        code: &str,
        mut on_test: impl FnMut(&TestOutcome) + Send,
    ) -> Verdict {
        let tests: Vec<(&TestCase, bool)> = spec
            .examples
            .iter()
            .map(|t| (t, false))
            .chain(spec.hidden_tests.iter().map(|t| (t, true)))
            .collect();
        let mut verdict = Verdict {
            kind: VerdictKind::Accepted,
            passed: 0,
            total: u32::try_from(tests.len()).unwrap_or(u32::MAX),
            runtime_ms: 0,
            memory_kb: 0,
            tests: Vec::new(),
            failed_example: None,
            message: None,
        };
        let lines = match test_lines(spec, &tests) {
            Ok(lines) => lines,
            Err(message) => {
                verdict.kind = VerdictKind::InternalError;
                verdict.message = Some(message);
                return verdict;
            }
        };

        let mut harness = match self.start(spec, code, tests.len()).await {
            Ok(harness) => harness,
            Err(e) => return internal_error(verdict, &e),
        };
        if let Some((kind, message)) = self.load(&mut harness, spec).await {
            verdict.kind = kind;
            verdict.message = message;
            if kind == VerdictKind::InternalError {
                tracing::error!(message = verdict.message.as_deref(), "the judge failed");
            }
            harness.finish().await;
            return verdict;
        }

        let budget = self.test_budget(spec);
        for (index, ((test, hidden), line)) in tests.into_iter().zip(lines).enumerate() {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let start = harness.start_step();
            // If the harness is gone, waiting for the report says how.
            let _ = harness.session.write(line);
            let (ending, used) = self.run_test(&mut harness, spec, budget, &start).await;
            let runtime_ms = u32::try_from(used.cpu.as_millis()).unwrap_or(u32::MAX);
            let memory_kb = used.peak_memory / 1024;
            verdict.runtime_ms = verdict.runtime_ms.max(runtime_ms);
            verdict.memory_kb = verdict.memory_kb.max(memory_kb);

            let (kind, message, exception, actual) = match ending {
                Ending::Output(actual) => {
                    if check_output(&spec.checker, &spec.kind, &test.expected, &actual) {
                        (VerdictKind::Accepted, None, None, None)
                    } else {
                        (VerdictKind::WrongAnswer, None, None, Some(actual))
                    }
                }
                Ending::Failed {
                    kind,
                    message,
                    exception,
                } => (kind, message, exception, None),
            };
            verdict.tests.push(TestOutcome {
                index,
                hidden,
                verdict: kind,
                runtime_ms,
                memory_kb,
            });
            on_test(verdict.tests.last().expect("just pushed"));
            if kind == VerdictKind::Accepted {
                verdict.passed += 1;
                continue;
            }
            verdict.kind = kind;
            if kind == VerdictKind::InternalError {
                verdict.message = message;
            } else if hidden {
                // Whatever the run said may carry the hidden input (an
                // exception message quoting it, say): keep only the kind.
                verdict.message = message.map(|_| hidden_message(exception.as_deref()));
            } else {
                verdict.message = message;
                if let Some(actual) = actual {
                    verdict.failed_example = Some(FailedExample {
                        index,
                        input: test.input.clone(),
                        expected: test.expected.clone(),
                        actual: truncate(&actual, ACTUAL_MAX),
                    });
                }
            }
            break;
        }
        harness.finish().await;
        verdict
    }

    /// Starts the harness for `tests` tests. The run's own limits are the
    /// sum of the steps' (each step is held to its share by the judge).
    async fn start(
        &self,
        spec: &ProblemSpec,
        code: &str,
        tests: usize,
    ) -> sandbox::Result<Harness> {
        let delimiter = new_delimiter();
        let conf = match &spec.kind {
            ProblemKind::Function {
                entry_point,
                params,
            } => {
                serde_json::json!({"kind": "function", "entry_point": entry_point, "params": params})
            }
            ProblemKind::StdIo => {
                serde_json::json!({"kind": "stdio", "entry_point": null, "params": []})
            }
        };
        let steps = u32::try_from(tests).unwrap_or(u32::MAX).saturating_add(1);
        let load = self.load_budget(spec);
        let test = self.test_budget(spec);
        let limits = Limits {
            cpu_time: load.cpu + test.cpu * (steps - 1) + Duration::from_secs(1),
            wall_time: load.wall + test.wall * (steps - 1),
            memory_bytes: u64::from(spec.limits.memory_limit_mb) << 20,
            max_processes: self.config.max_processes.saturating_add(1),
            output_bytes: (self
                .config
                .output_bytes
                .saturating_mul(u64::from(steps) + 1))
            .min(RUN_OUTPUT_MAX),
            ..Limits::default()
        };
        let run = RunSpec::new([self.config.python.as_str(), "-I", "-S", HARNESS_FILE])
            .file(HARNESS_FILE, HARNESS)
            .file(SOLUTION_FILE, code)
            .stdin(format!("{delimiter}\n{conf}\n"))
            .env("LC_ALL", "C.UTF-8")
            .limits(limits);
        let session = self.sandbox.spawn(run).await?;
        Ok(Harness {
            session,
            marker: format!("\n{delimiter}\n").into_bytes(),
            buffer: Vec::new(),
        })
    }

    /// Compiling, and for a function problem running the module and checking
    /// the entry point: `None` when the tests may run, else the verdict.
    async fn load(
        &self,
        harness: &mut Harness,
        spec: &ProblemSpec,
    ) -> Option<(VerdictKind, Option<String>)> {
        let start = harness.start_step();
        match harness.next(self.load_budget(spec), &start).await {
            Next::Report { report, .. } => match report {
                Some(Report::Ok(_)) => None,
                Some(Report::CompileError(message)) => {
                    Some((VerdictKind::CompileError, Some(message)))
                }
                Some(Report::Error(e)) => Some(python_error(e)),
                Some(Report::Exited(_) | Report::End(_)) | None => Some(garbled()),
            },
            Next::Stopped(limit) => Some((stopped_verdict(limit), None)),
            Next::Ended(outcome) => Some(run_ended(outcome)),
        }
    }

    /// Waits for one test's result and end; returns how it ended and what it
    /// used, measured from the cgroup.
    async fn run_test(
        &self,
        harness: &mut Harness,
        spec: &ProblemSpec,
        budget: Budget,
        start: &StepStart,
    ) -> (Ending, Used) {
        let mut output: Option<Vec<u8>> = None;
        let mut result: Option<Report> = None;
        let ending = loop {
            match harness.next(budget, start).await {
                Next::Report {
                    printed,
                    report: Some(Report::End(end)),
                } => {
                    let printed = output.get_or_insert(printed);
                    let used = harness.used(start);
                    break self.test_ending(spec, budget, result.take(), printed, end, &used);
                }
                Next::Report {
                    printed,
                    report: Some(report),
                } => {
                    output.get_or_insert(printed);
                    result = Some(report);
                }
                Next::Report { report: None, .. } => break garbled_ending(),
                Next::Stopped(limit) => break Ending::failed(stopped_verdict(limit), None),
                Next::Ended(outcome) => {
                    let (kind, message) = run_ended(outcome);
                    break Ending::failed(kind, message);
                }
            }
        };
        let used = harness.used(start);
        (ending, used)
    }

    /// A test whose child ended: what the result report, the output and the
    /// child's exit say, checked against the step's CPU budget.
    fn test_ending(
        &self,
        spec: &ProblemSpec,
        budget: Budget,
        result: Option<Report>,
        printed: &[u8],
        end: ChildEnd,
        used: &Used,
    ) -> Ending {
        if used.cpu >= budget.cpu {
            return Ending::failed(VerdictKind::TimeLimitExceeded, None);
        }
        if used.oom_killed {
            return Ending::failed(VerdictKind::MemoryLimitExceeded, None);
        }
        let stdout = || String::from_utf8_lossy(printed).into_owned();
        match (result, &spec.kind) {
            (Some(Report::Ok(value)), ProblemKind::Function { .. }) => {
                Ending::Output(value.to_string())
            }
            (Some(Report::Ok(_)), ProblemKind::StdIo) => Ending::Output(stdout()),
            (Some(Report::Error(e)), _) => {
                let exception = Some(e.kind.clone());
                let (kind, message) = python_error(e);
                Ending::Failed {
                    kind,
                    message,
                    exception,
                }
            }
            (Some(Report::Exited(code)), _) => Ending::failed(
                VerdictKind::RuntimeError,
                Some(format!("the program exited with code {code}")),
            ),
            (Some(Report::CompileError(_) | Report::End(_)), _) => garbled_ending(),
            // No result: the child ended the process itself.
            (None, kind) => {
                let stdio = matches!(kind, ProblemKind::StdIo);
                match (end.exit, end.signal) {
                    (Some(0), None) if stdio => Ending::Output(stdout()),
                    (_, Some(signal)) => Ending::failed(
                        VerdictKind::RuntimeError,
                        Some(format!("the solution was killed by signal {signal}")),
                    ),
                    (code, None) => {
                        let how = if stdio { "" } else { " before returning" };
                        Ending::failed(
                            VerdictKind::RuntimeError,
                            Some(format!(
                                "the solution ended the process with exit code {}{how}",
                                code.unwrap_or(-1)
                            )),
                        )
                    }
                }
            }
        }
    }

    fn load_budget(&self, spec: &ProblemSpec) -> Budget {
        let cpu = self
            .test_budget(spec)
            .cpu
            .max(self.config.compile_cpu_floor);
        Budget {
            cpu,
            wall: self.wall_time(cpu),
            output: self.config.output_bytes,
        }
    }

    fn test_budget(&self, spec: &ProblemSpec) -> Budget {
        let cpu = Duration::from_millis(u64::from(spec.limits.time_limit_ms));
        Budget {
            cpu,
            wall: self.wall_time(cpu),
            output: self.config.output_bytes,
        }
    }

    fn wall_time(&self, cpu_time: Duration) -> Duration {
        cpu_time * self.config.wall_factor + self.config.wall_extra
    }
}

/// What a step used, from the cgroup.
#[derive(Debug, Clone, Copy)]
struct Used {
    cpu: Duration,
    peak_memory: u64,
    oom_killed: bool,
}

impl Harness {
    fn used(&self, start: &StepStart) -> Used {
        let now = self.session.usage().unwrap_or(start.usage);
        Used {
            cpu: now.cpu_time.saturating_sub(start.usage.cpu_time),
            // Without a reset the peak is the run's so far: an upper bound.
            peak_memory: if start.peak_reset {
                now.peak_memory_bytes
            } else {
                now.peak_memory_bytes.max(start.usage.peak_memory_bytes)
            },
            oom_killed: now.oom_kills > start.usage.oom_kills,
        }
    }
}

/// Cap on everything a judgement's run may print, all tests together.
const RUN_OUTPUT_MAX: u64 = 64 << 20;

/// Each test as the line the harness reads: a function problem's argument
/// array as compact JSON, a stdio problem's input as a JSON string.
fn test_lines(spec: &ProblemSpec, tests: &[(&TestCase, bool)]) -> Result<Vec<String>, String> {
    tests
        .iter()
        .enumerate()
        .map(|(i, (test, _))| {
            let json = match spec.kind {
                ProblemKind::Function { .. } => {
                    serde_json::from_str::<serde_json::Value>(&test.input)
                        .map_err(|e| format!("test {i}: the input is not JSON: {e}"))?
                        .to_string()
                }
                ProblemKind::StdIo => serde_json::Value::from(test.input.as_str()).to_string(),
            };
            Ok(json + "\n")
        })
        .collect()
}

/// The verdict when the whole run ended before the report it was waiting
/// for: a run-wide limit, the harness ended by the solution, or the sandbox
/// failing.
fn run_ended(outcome: sandbox::Result<RunOutcome>) -> (VerdictKind, Option<String>) {
    match outcome {
        Ok(outcome) => match limit_verdict(&outcome) {
            Some(kind) => (kind, None),
            None => no_report(&outcome),
        },
        Err(e) => (
            VerdictKind::InternalError,
            Some(format!("the judge could not run the submission: {e}")),
        ),
    }
}

fn stopped_verdict(limit: LimitKind) -> VerdictKind {
    match limit {
        LimitKind::Output => VerdictKind::OutputLimitExceeded,
        LimitKind::Memory => VerdictKind::MemoryLimitExceeded,
        _ => VerdictKind::TimeLimitExceeded,
    }
}

/// A report that makes no sense: only a solution writing after the
/// delimiter (which it had to dig out of memory) gets here.
fn garbled() -> (VerdictKind, Option<String>) {
    (
        VerdictKind::RuntimeError,
        Some("the solution interfered with the judge's reports".to_owned()),
    )
}

fn garbled_ending() -> Ending {
    let (kind, message) = garbled();
    Ending::failed(kind, message)
}

/// A fresh, unguessable delimiter line (122 random bits).
fn new_delimiter() -> String {
    format!("=====PYDOJO-RESULT-{}=====", uuid::Uuid::new_v4().simple())
}

/// The verdict a sandbox limit decides on its own.
fn limit_verdict(outcome: &RunOutcome) -> Option<VerdictKind> {
    match outcome.limit_hit {
        Some(LimitKind::Cpu | LimitKind::Wall) => Some(VerdictKind::TimeLimitExceeded),
        Some(LimitKind::Memory) => Some(VerdictKind::MemoryLimitExceeded),
        Some(LimitKind::Output) => Some(VerdictKind::OutputLimitExceeded),
        // A refused fork or an oversized file may have been survived: the
        // exit status and output decide.
        Some(LimitKind::Processes | LimitKind::FileSize) | None => {
            if outcome.stdout_truncated || outcome.stderr_truncated {
                Some(VerdictKind::OutputLimitExceeded)
            } else {
                None
            }
        }
    }
}

fn python_error(e: PyError) -> (VerdictKind, Option<String>) {
    if e.kind == "MemoryError" {
        return (VerdictKind::MemoryLimitExceeded, None);
    }
    let last = if e.message.is_empty() {
        e.kind.clone()
    } else {
        format!("{}: {}", e.kind, e.message)
    };
    let message = if e.traceback.is_empty() {
        last
    } else {
        format!("Traceback (most recent call last):\n{}{last}", e.traceback)
    };
    (VerdictKind::RuntimeError, Some(message))
}

/// The harness wrote no report: the solution ended the process itself.
fn no_report(outcome: &RunOutcome) -> (VerdictKind, Option<String>) {
    let how = match outcome.exit {
        ExitStatus::Code(c) => format!("with exit code {c}"),
        ExitStatus::Signal(s) => format!("killed by signal {s}"),
    };
    (
        VerdictKind::RuntimeError,
        Some(format!(
            "the solution ended the process {how} before returning"
        )),
    )
}

/// Python's built-in exception classes: the only names a hidden test's
/// failure may show. A class the solution defines (or a line it writes to
/// stderr) could spell out the hidden input.
const BUILTIN_EXCEPTIONS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BufferError",
    "EOFError",
    "Exception",
    "FloatingPointError",
    "ImportError",
    "IndexError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "ModuleNotFoundError",
    "NameError",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "RecursionError",
    "ReferenceError",
    "RuntimeError",
    "StopIteration",
    "StopAsyncIteration",
    "SystemError",
    "SystemExit",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "ValueError",
    "ZeroDivisionError",
    "FileNotFoundError",
    "PermissionError",
    "TimeoutError",
    "JSONDecodeError",
];

/// The message for a failure on a hidden test: a built-in exception's class
/// at most, never its message or the output.
fn hidden_message(exception: Option<&str>) -> String {
    let what = match exception.filter(|t| BUILTIN_EXCEPTIONS.contains(t)) {
        Some(t) => format!("{t} raised"),
        None => "the solution failed".to_owned(),
    };
    format!("{what} on a hidden test; details of hidden tests are not shown")
}

fn internal_error(mut verdict: Verdict, e: &sandbox::Error) -> Verdict {
    tracing::error!(error = %e, "the sandbox failed while judging");
    verdict.kind = VerdictKind::InternalError;
    verdict.message = Some(format!("the judge could not run the submission: {e}"));
    verdict
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (truncated)", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(d: &str) -> Vec<u8> {
        format!("\n{d}\n").into_bytes()
    }

    #[test]
    fn reports_are_taken_in_order_with_what_was_printed_before() {
        let d = new_delimiter();
        let mut buffer = format!("3\n\n{d}\n{{\"ok\": null}}\n\n{d}\n{{\"end\": {{\"exit\": 0, \"signal\": null}}}}\n\n{d}\n{{\"ok\"")
            .into_bytes();
        let (printed, report) = take_report(&mut buffer, &marker(&d)).expect("first");
        assert_eq!(printed, b"3\n");
        assert!(matches!(report, Some(Report::Ok(serde_json::Value::Null))));
        let (printed, report) = take_report(&mut buffer, &marker(&d)).expect("second");
        assert!(printed.is_empty());
        assert!(matches!(
            report,
            Some(Report::End(ChildEnd {
                exit: Some(0),
                signal: None
            }))
        ));
        // The third is not complete yet.
        assert!(take_report(&mut buffer, &marker(&d)).is_none());
        buffer.extend_from_slice(b": 1}\n");
        assert!(
            matches!(take_report(&mut buffer, &marker(&d)), Some((_, Some(Report::Ok(v)))) if v == 1)
        );
    }

    #[test]
    fn a_report_after_another_delimiter_is_only_output() {
        let d = new_delimiter();
        let mut buffer = format!("\n{}\n{{\"ok\": 1}}\n", new_delimiter()).into_bytes();
        assert!(take_report(&mut buffer, &marker(&d)).is_none());
        assert_ne!(new_delimiter(), d);
    }

    #[test]
    fn a_garbled_report_is_recognised() {
        let d = new_delimiter();
        let mut buffer = format!("\n{d}\nnot json\n").into_bytes();
        assert!(matches!(
            take_report(&mut buffer, &marker(&d)),
            Some((_, None))
        ));
    }

    #[test]
    fn test_inputs_become_single_lines() {
        let stdio = ProblemSpec {
            kind: ProblemKind::StdIo,
            ..sample_spec()
        };
        let case = TestCase {
            input: "1 2\n3\n".into(),
            expected: String::new(),
            explanation: None,
        };
        assert_eq!(
            test_lines(&stdio, &[(&case, false)]).unwrap(),
            ["\"1 2\\n3\\n\"\n"]
        );
        let function = sample_spec();
        let case = TestCase {
            input: "[\n  [1, 2],\n  \"a\\nb\"\n]".into(),
            ..case
        };
        assert_eq!(
            test_lines(&function, &[(&case, false)]).unwrap(),
            ["[[1,2],\"a\\nb\"]\n"]
        );
        let bad = TestCase {
            input: "[1,".into(),
            ..case
        };
        assert!(
            test_lines(&function, &[(&bad, false)])
                .unwrap_err()
                .starts_with("test 0: ")
        );
    }

    fn sample_spec() -> ProblemSpec {
        ProblemSpec {
            title: "t".into(),
            statement: "s".into(),
            difficulty: domain::problem::Difficulty::Easy,
            tags: vec![],
            kind: ProblemKind::Function {
                entry_point: "f".into(),
                params: vec!["x".into()],
            },
            template: String::new(),
            examples: vec![],
            hidden_tests: vec![],
            limits: domain::problem::Limits {
                time_limit_ms: 1000,
                memory_limit_mb: 64,
            },
            checker: domain::problem::Checker::Exact,
            hints: Vec::new(),
        }
    }

    #[test]
    fn a_hidden_failure_names_only_builtin_exceptions() {
        assert!(hidden_message(Some("ValueError")).starts_with("ValueError raised"));
        assert!(!hidden_message(Some("Secret123456")).contains("123456"));
        assert!(hidden_message(None).starts_with("the solution failed"));
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h… (truncated)");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
