//! What the tutor may know about a question, and the prompt built from it.
//!
//! Only what the learner can see goes in: the statement, the examples, their
//! own code, and what their latest verdict already showed them (its kind,
//! counts, the first failing *visible* example, the error message). A
//! [`ProblemContext`] is built from a spec by copying those fields, so hidden
//! tests cannot reach a model by accident.

use domain::problem::{ProblemKind, ProblemSpec};
use domain::submission::{Verdict, VerdictKind};

/// Longest statement and code put in a prompt; the rest is cut.
const STATEMENT_MAX: usize = 8 * 1024;
const CODE_MAX: usize = 8 * 1024;
/// Earlier exchanges replayed to the model.
const HISTORY_MAX: usize = 6;

/// A visible example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub input: String,
    pub expected: String,
}

/// The problem as the learner sees it, plus its graded hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemContext {
    pub slug: String,
    pub title: String,
    pub statement: String,
    /// The function to write; `None` for a stdin/stdout program.
    pub entry_point: Option<String>,
    pub params: Vec<String>,
    pub examples: Vec<Example>,
    /// Graded hints, from a nudge to nearly the idea.
    pub hints: Vec<String>,
    pub time_limit_ms: u32,
}

impl ProblemContext {
    /// Copies what the learner may see (never `hidden_tests`).
    pub fn from_spec(slug: &str, spec: &ProblemSpec) -> Self {
        let (entry_point, params) = match &spec.kind {
            ProblemKind::Function {
                entry_point,
                params,
            } => (Some(entry_point.clone()), params.clone()),
            ProblemKind::StdIo => (None, Vec::new()),
        };
        Self {
            slug: slug.to_string(),
            title: spec.title.clone(),
            statement: spec.statement.clone(),
            entry_point,
            params,
            examples: spec
                .examples
                .iter()
                .map(|e| Example {
                    input: e.input.clone(),
                    expected: e.expected.clone(),
                })
                .collect(),
            hints: spec.hints.clone(),
            time_limit_ms: spec.limits.time_limit_ms,
        }
    }
}

/// The learner's latest judged submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgedCode {
    pub code: String,
    pub verdict: Verdict,
}

/// One question, with everything the tutor may use to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TutorRequest {
    pub problem: ProblemContext,
    /// The code the learner has now (their editor, else their latest
    /// submission).
    pub code: Option<String>,
    /// The latest judged submission: its code and verdict.
    pub judged: Option<JudgedCode>,
    /// Graded hints already given in this conversation.
    pub hints_revealed: u32,
    /// Earlier questions and answers, oldest first.
    pub history: Vec<(String, String)>,
    pub question: String,
}

impl TutorRequest {
    /// The hints given so far.
    pub fn given_hints(&self) -> &[String] {
        let n = (self.hints_revealed as usize).min(self.problem.hints.len());
        &self.problem.hints[..n]
    }

    /// The next graded hint, if any is left.
    pub fn next_hint(&self) -> Option<&str> {
        self.problem
            .hints
            .get(self.hints_revealed as usize)
            .map(String::as_str)
    }
}

/// The hint-only policy.
pub fn system_prompt(problem: &ProblemContext) -> String {
    let target = match &problem.entry_point {
        Some(f) => format!(
            "Never write the function `{f}` with a working body, under that name or any other."
        ),
        None => "Never write a complete program that reads the input and prints the answer.".into(),
    };
    format!(
        "You are PyDojo's Python tutor. A learner is solving the problem below on their own, \
         and your job is to help them get there themselves.\n\
         Rules:\n\
         - Never give a complete solution. {target}\n\
         - Give one hint at a time: ask a guiding question, point at the line or case that \
           goes wrong, or explain the concept or the complexity they need.\n\
         - Code only as tiny illustrations of at most two lines that do not solve the problem.\n\
         - If they ask for the solution, say kindly that you will not write it, and give a hint.\n\
         - Use the context: their code, their latest verdict and the hints already given. \
           Do not repeat a hint they already have; build on it.\n\
         - Be brief: at most about 150 words. Plain Markdown."
    )
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[… cut]", &text[..end])
}

/// What the verdict showed the learner, in words.
pub fn describe_verdict(verdict: &Verdict) -> String {
    let mut out = format!(
        "{} ({} of {} tests passed, slowest {} ms, peak {} KiB)",
        verdict_name(verdict.kind),
        verdict.passed,
        verdict.total,
        verdict.runtime_ms,
        verdict.memory_kb
    );
    if let Some(f) = &verdict.failed_example {
        out.push_str(&format!(
            "\nFirst failing example (example {}):\n  input: {}\n  expected: {}\n  their output: {}",
            f.index + 1,
            f.input,
            f.expected,
            f.actual
        ));
    }
    if let Some(m) = &verdict.message {
        out.push_str(&format!("\nMessage:\n{m}"));
    }
    out
}

pub fn verdict_name(kind: VerdictKind) -> &'static str {
    match kind {
        VerdictKind::Accepted => "Accepted",
        VerdictKind::WrongAnswer => "Wrong answer",
        VerdictKind::TimeLimitExceeded => "Time limit exceeded",
        VerdictKind::MemoryLimitExceeded => "Memory limit exceeded",
        VerdictKind::OutputLimitExceeded => "Output limit exceeded",
        VerdictKind::RuntimeError => "Runtime error",
        VerdictKind::CompileError => "Syntax error",
        VerdictKind::InternalError => "Internal error of the judge",
    }
}

/// The context message: the problem, the learner's code, verdict and hints.
pub fn context_message(req: &TutorRequest) -> String {
    let p = &req.problem;
    let mut out = format!(
        "Problem: {} ({})\n\n{}\n",
        p.title,
        p.slug,
        cut(&p.statement, STATEMENT_MAX)
    );
    match &p.entry_point {
        Some(f) => out.push_str(&format!(
            "\nThe learner writes `def {f}({})`.\n",
            p.params.join(", ")
        )),
        None => out.push_str("\nThe learner writes a program reading stdin and writing stdout.\n"),
    }
    out.push_str(&format!("Time limit: {} ms per test.\n", p.time_limit_ms));
    for (i, e) in p.examples.iter().enumerate() {
        out.push_str(&format!(
            "Example {}: input {} → expected {}\n",
            i + 1,
            e.input,
            e.expected
        ));
    }
    match &req.code {
        Some(code) => out.push_str(&format!(
            "\nThe learner's current code:\n```python\n{}\n```\n",
            cut(code, CODE_MAX)
        )),
        None => out.push_str("\nThe learner has written no code yet.\n"),
    }
    match &req.judged {
        Some(j) => {
            out.push_str(&format!(
                "\nTheir latest submission's verdict: {}\n",
                describe_verdict(&j.verdict)
            ));
            if req.code.as_deref() != Some(j.code.as_str()) {
                out.push_str(&format!(
                    "That submission's code (line numbers in the message refer to it):\n```python\n{}\n```\n",
                    cut(&j.code, CODE_MAX)
                ));
            }
        }
        None => out.push_str("\nThey have not submitted yet.\n"),
    }
    let given = req.given_hints();
    if given.is_empty() {
        out.push_str("\nNo hints given yet.\n");
    } else {
        out.push_str("\nHints already given:\n");
        for (i, h) in given.iter().enumerate() {
            out.push_str(&format!("{}. {h}\n", i + 1));
        }
    }
    if let Some(next) = req.next_hint() {
        out.push_str(&format!(
            "The author's next hint, to use only if they are stuck and in your own words: {next}\n"
        ));
    }
    out
}

/// A chat message: role ("system", "user", "assistant") and text.
pub type Message = (&'static str, String);

/// The whole conversation sent to a model.
pub fn messages(req: &TutorRequest) -> Vec<Message> {
    let mut out = vec![
        ("system", system_prompt(&req.problem)),
        ("system", context_message(req)),
    ];
    let skip = req.history.len().saturating_sub(HISTORY_MAX);
    for (q, a) in &req.history[skip..] {
        out.push(("user", q.clone()));
        out.push(("assistant", a.clone()));
    }
    out.push(("user", req.question.clone()));
    out
}
