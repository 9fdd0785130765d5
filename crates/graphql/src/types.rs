//! GraphQL object and input types, mapped from read-model views.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use domain::problem::{self as p, Checker as DomainChecker, ProblemKind as DomainKind};
use domain::submission as sub;
use domain::user::Role as DomainRole;
use projections::queries::{ProblemView, SubmissionView, UserView};

use crate::context::{RequestCtx, Services};
use crate::error::{Code, api_error, from_read};

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    User,
    Reviewer,
    Admin,
}

impl From<DomainRole> for Role {
    fn from(r: DomainRole) -> Self {
        match r {
            DomainRole::User => Role::User,
            DomainRole::Reviewer => Role::Reviewer,
            DomainRole::Admin => Role::Admin,
        }
    }
}

impl From<Role> for DomainRole {
    fn from(r: Role) -> Self {
        match r {
            Role::User => DomainRole::User,
            Role::Reviewer => DomainRole::Reviewer,
            Role::Admin => DomainRole::Admin,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
}

impl From<p::Difficulty> for Difficulty {
    fn from(d: p::Difficulty) -> Self {
        match d {
            p::Difficulty::Easy => Difficulty::Easy,
            p::Difficulty::Medium => Difficulty::Medium,
            p::Difficulty::Hard => Difficulty::Hard,
        }
    }
}

impl From<Difficulty> for p::Difficulty {
    fn from(d: Difficulty) -> Self {
        match d {
            Difficulty::Easy => p::Difficulty::Easy,
            Difficulty::Medium => p::Difficulty::Medium,
            Difficulty::Hard => p::Difficulty::Hard,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ProblemStatus {
    Draft,
    Published,
    Archived,
}

impl From<p::ProblemStatus> for ProblemStatus {
    fn from(s: p::ProblemStatus) -> Self {
        match s {
            p::ProblemStatus::Draft => ProblemStatus::Draft,
            p::ProblemStatus::Published => ProblemStatus::Published,
            p::ProblemStatus::Archived => ProblemStatus::Archived,
        }
    }
}

/// How a solution is called.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ProblemKind {
    /// A function `entryPoint(params...)`; test inputs are JSON argument arrays.
    Function,
    /// A program reading stdin and writing stdout.
    Stdio,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CheckerKind {
    Exact,
    /// Numbers within an absolute or relative tolerance.
    Float,
    /// Lines or list elements in any order.
    Unordered,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SubmissionStatus {
    /// Waiting for the judge.
    Queued,
    /// Judged: see `verdict`.
    Judged,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum VerdictKind {
    Accepted,
    WrongAnswer,
    TimeLimitExceeded,
    MemoryLimitExceeded,
    OutputLimitExceeded,
    RuntimeError,
    CompileError,
    /// The judge failed; the submission is not at fault.
    InternalError,
}

impl From<sub::VerdictKind> for VerdictKind {
    fn from(k: sub::VerdictKind) -> Self {
        match k {
            sub::VerdictKind::Accepted => VerdictKind::Accepted,
            sub::VerdictKind::WrongAnswer => VerdictKind::WrongAnswer,
            sub::VerdictKind::TimeLimitExceeded => VerdictKind::TimeLimitExceeded,
            sub::VerdictKind::MemoryLimitExceeded => VerdictKind::MemoryLimitExceeded,
            sub::VerdictKind::OutputLimitExceeded => VerdictKind::OutputLimitExceeded,
            sub::VerdictKind::RuntimeError => VerdictKind::RuntimeError,
            sub::VerdictKind::CompileError => VerdictKind::CompileError,
            sub::VerdictKind::InternalError => VerdictKind::InternalError,
        }
    }
}

/// One test's result; hidden tests show only that they passed or how they failed.
#[derive(SimpleObject, Debug)]
pub struct TestResult {
    pub index: u32,
    pub hidden: bool,
    pub verdict: VerdictKind,
    pub runtime_ms: u32,
    pub memory_kb: u64,
}

/// The first failing example (visible test): never a hidden one.
#[derive(SimpleObject, Debug)]
pub struct FailedExample {
    pub index: u32,
    pub input: String,
    pub expected: String,
    pub actual: String,
}

#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct Verdict {
    pub kind: VerdictKind,
    pub passed: u32,
    pub total: u32,
    /// CPU time of the slowest test, measured by the sandbox.
    pub runtime_ms: u32,
    /// Largest peak memory over the tests, in KiB, measured by the sandbox.
    pub memory_kb: u64,
    pub tests: Vec<TestResult>,
    pub failed_example: Option<FailedExample>,
    /// Compile or runtime error details (the traceback trimmed to your code).
    pub message: Option<String>,
    /// The problem version this verdict was judged against: the one the
    /// code was submitted for, or a later one after a rejudge.
    pub problem_version: u32,
    #[graphql(skip)]
    pub problem_id: domain::ProblemId,
}

#[ComplexObject]
impl Verdict {
    /// Accepted verdicts only: the share of the problem's accepted
    /// submissions (this one included) that ran strictly slower, in percent:
    /// "faster than 87% of accepted submissions". It moves as others submit.
    async fn runtime_percentile(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        if self.kind != VerdictKind::Accepted {
            return Ok(None);
        }
        let services = ctx.data_unchecked::<Services>();
        projections::ranking::runtime_percentile(
            &services.db,
            self.problem_id,
            self.runtime_ms as i64,
        )
        .await
        .map_err(from_read)
    }

    /// Accepted verdicts only: the share of the problem's accepted
    /// submissions (this one included) with a strictly larger memory peak, in
    /// percent.
    async fn memory_percentile(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        if self.kind != VerdictKind::Accepted {
            return Ok(None);
        }
        let services = ctx.data_unchecked::<Services>();
        projections::ranking::memory_percentile(
            &services.db,
            self.problem_id,
            self.memory_kb as i64,
        )
        .await
        .map_err(from_read)
    }
}

impl From<sub::TestOutcome> for TestResult {
    fn from(t: sub::TestOutcome) -> Self {
        Self {
            index: t.index,
            hidden: t.hidden,
            verdict: t.verdict.into(),
            runtime_ms: t.runtime_ms,
            memory_kb: t.memory_kb,
        }
    }
}

impl Verdict {
    /// The verdict of a submission as the read model has it.
    pub(crate) fn of(view: &SubmissionView) -> Option<Self> {
        let verdict = view.verdict.clone()?;
        let version = view.judged_version.unwrap_or(view.problem_version);
        Some(Self::new(verdict, view.problem_id, version))
    }

    fn new(v: sub::Verdict, problem_id: domain::ProblemId, problem_version: u32) -> Self {
        Self {
            problem_id,
            problem_version,
            kind: v.kind.into(),
            passed: v.passed,
            total: v.total,
            runtime_ms: v.runtime_ms,
            memory_kb: v.memory_kb,
            tests: v.tests.into_iter().map(Into::into).collect(),
            failed_example: v.failed_example.map(|f| FailedExample {
                index: f.index,
                input: f.input,
                expected: f.expected,
                actual: f.actual,
            }),
            message: v.message,
        }
    }
}

#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub email_private: String,
    /// Set when the user is the one a session was just issued to.
    #[graphql(skip)]
    pub reveal_email: bool,
}

#[ComplexObject]
impl User {
    /// Visible to the user themself and to admins; null for everyone else.
    async fn email(&self, ctx: &Context<'_>) -> Option<String> {
        let req = ctx.data_unchecked::<RequestCtx>();
        let visible = req.actor.as_ref().is_some_and(|a| {
            a.role == DomainRole::Admin || a.user_id.to_string() == self.id.as_str()
        });
        (visible || self.reveal_email).then(|| self.email_private.clone())
    }
}

impl From<UserView> for User {
    fn from(u: UserView) -> Self {
        Self {
            id: ID(u.user_id.to_string()),
            username: u.username,
            display_name: u.display_name,
            bio: u.bio,
            role: u.role.into(),
            active: u.active,
            created_at: u.created_at,
            email_private: u.email,
            reveal_email: false,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct TestCase {
    /// For function problems, a JSON array of arguments; for stdio problems, stdin.
    pub input: String,
    /// For function problems, a JSON value; for stdio problems, stdout.
    pub expected: String,
    pub explanation: Option<String>,
}

impl From<p::TestCase> for TestCase {
    fn from(t: p::TestCase) -> Self {
        Self {
            input: t.input,
            expected: t.expected,
            explanation: t.explanation,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Checker {
    pub kind: CheckerKind,
    pub abs_tol: Option<f64>,
    pub rel_tol: Option<f64>,
}

#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct Problem {
    pub id: ID,
    pub slug: String,
    pub title: String,
    /// Markdown.
    pub statement: String,
    pub difficulty: Difficulty,
    pub tags: Vec<String>,
    pub kind: ProblemKind,
    /// The function to define (function problems only).
    pub entry_point: Option<String>,
    pub params: Vec<String>,
    pub template: String,
    pub examples: Vec<TestCase>,
    pub time_limit_ms: u32,
    pub memory_limit_mb: u32,
    pub checker: Checker,
    pub status: ProblemStatus,
    /// Bumped by every edit; each submission records the version it was made against.
    pub version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub problem_id: domain::ProblemId,
}

#[ComplexObject]
impl Problem {
    /// Admins only. Users never see hidden tests.
    async fn hidden_tests(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TestCase>> {
        ctx.data_unchecked::<RequestCtx>().admin()?;
        let services = ctx.data_unchecked::<Services>();
        let tests = projections::queries::hidden_tests(&services.db, self.problem_id)
            .await
            .map_err(from_read)?;
        Ok(tests.into_iter().map(Into::into).collect())
    }
}

impl From<ProblemView> for Problem {
    fn from(v: ProblemView) -> Self {
        let (kind, entry_point, params) = match v.kind {
            DomainKind::Function {
                entry_point,
                params,
            } => (ProblemKind::Function, Some(entry_point), params),
            DomainKind::StdIo => (ProblemKind::Stdio, None, vec![]),
        };
        let checker = match v.checker {
            DomainChecker::Exact => Checker {
                kind: CheckerKind::Exact,
                abs_tol: None,
                rel_tol: None,
            },
            DomainChecker::Float { abs_tol, rel_tol } => Checker {
                kind: CheckerKind::Float,
                abs_tol: Some(abs_tol),
                rel_tol: Some(rel_tol),
            },
            DomainChecker::Unordered => Checker {
                kind: CheckerKind::Unordered,
                abs_tol: None,
                rel_tol: None,
            },
        };
        Self {
            id: ID(v.problem_id.to_string()),
            slug: v.slug,
            title: v.title,
            statement: v.statement,
            difficulty: v.difficulty.into(),
            tags: v.tags,
            kind,
            entry_point,
            params,
            template: v.template,
            examples: v.examples.into_iter().map(Into::into).collect(),
            time_limit_ms: v.limits.time_limit_ms,
            memory_limit_mb: v.limits.memory_limit_mb,
            checker,
            status: v.status.into(),
            version: v.version,
            created_at: v.created_at,
            updated_at: v.updated_at,
            published_at: v.published_at,
            problem_id: v.problem_id,
        }
    }
}

#[derive(SimpleObject, Debug)]
pub struct Submission {
    pub id: ID,
    pub user_id: ID,
    pub problem_slug: String,
    pub problem_version: u32,
    pub language: String,
    pub code: String,
    pub status: SubmissionStatus,
    pub created_at: DateTime<Utc>,
    /// Set once judged.
    pub verdict: Option<Verdict>,
}

impl TryFrom<SubmissionView> for Submission {
    type Error = async_graphql::Error;
    fn try_from(v: SubmissionView) -> async_graphql::Result<Self> {
        let status = match v.status.as_str() {
            "queued" => SubmissionStatus::Queued,
            "judged" => SubmissionStatus::Judged,
            other => return Err(crate::error::internal("unknown submission status", &other)),
        };
        let verdict = Verdict::of(&v);
        Ok(Self {
            id: ID(v.submission_id.to_string()),
            user_id: ID(v.user_id.to_string()),
            problem_slug: v.problem_slug,
            problem_version: v.problem_version,
            language: v.language,
            code: v.code,
            status,
            created_at: v.created_at,
            verdict,
        })
    }
}

#[derive(SimpleObject, Debug)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

#[derive(InputObject, Debug, Clone)]
pub struct TestCaseInput {
    pub input: String,
    pub expected: String,
    pub explanation: Option<String>,
}

#[derive(InputObject, Debug, Clone)]
pub struct CheckerInput {
    pub kind: CheckerKind,
    pub abs_tol: Option<f64>,
    pub rel_tol: Option<f64>,
}

/// Everything an author writes about a problem.
#[derive(InputObject, Debug, Clone)]
pub struct ProblemInput {
    pub title: String,
    pub statement: String,
    pub difficulty: Difficulty,
    #[graphql(default)]
    pub tags: Vec<String>,
    pub kind: ProblemKind,
    /// Required for function problems.
    pub entry_point: Option<String>,
    #[graphql(default)]
    pub params: Vec<String>,
    #[graphql(default)]
    pub template: String,
    #[graphql(default)]
    pub examples: Vec<TestCaseInput>,
    pub hidden_tests: Vec<TestCaseInput>,
    #[graphql(default = 2000)]
    pub time_limit_ms: u32,
    #[graphql(default = 256)]
    pub memory_limit_mb: u32,
    pub checker: Option<CheckerInput>,
    /// Graded hints for the tutor, from a nudge to nearly the idea. Never
    /// shown with the problem.
    #[graphql(default)]
    pub hints: Vec<String>,
}

impl ProblemInput {
    pub fn into_spec(self) -> async_graphql::Result<p::ProblemSpec> {
        let kind = match (self.kind, self.entry_point) {
            (ProblemKind::Function, Some(entry_point)) => DomainKind::Function {
                entry_point,
                params: self.params,
            },
            (ProblemKind::Function, None) => {
                return Err(api_error(
                    Code::BadUserInput,
                    "entryPoint is required for function problems",
                ));
            }
            (ProblemKind::Stdio, _) => DomainKind::StdIo,
        };
        let checker = match self.checker {
            None => DomainChecker::Exact,
            Some(CheckerInput {
                kind: CheckerKind::Exact,
                ..
            }) => DomainChecker::Exact,
            Some(CheckerInput {
                kind: CheckerKind::Unordered,
                ..
            }) => DomainChecker::Unordered,
            Some(CheckerInput {
                kind: CheckerKind::Float,
                abs_tol,
                rel_tol,
            }) => DomainChecker::Float {
                abs_tol: abs_tol.unwrap_or(0.0),
                rel_tol: rel_tol.unwrap_or(0.0),
            },
        };
        let tests = |v: Vec<TestCaseInput>| {
            v.into_iter()
                .map(|t| p::TestCase {
                    input: t.input,
                    expected: t.expected,
                    explanation: t.explanation,
                })
                .collect()
        };
        Ok(p::ProblemSpec {
            title: self.title,
            statement: self.statement,
            difficulty: self.difficulty.into(),
            tags: self.tags,
            kind,
            template: self.template,
            examples: tests(self.examples),
            hidden_tests: tests(self.hidden_tests),
            limits: p::Limits {
                time_limit_ms: self.time_limit_ms,
                memory_limit_mb: self.memory_limit_mb,
            },
            checker,
            hints: self.hints,
        })
    }
}

/// Which limit stopped a run.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LimitHit {
    Cpu,
    Wall,
    Memory,
    Output,
    Processes,
    FileSize,
}

impl LimitHit {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cpu" => LimitHit::Cpu,
            "wall" => LimitHit::Wall,
            "memory" => LimitHit::Memory,
            "output" => LimitHit::Output,
            "processes" => LimitHit::Processes,
            "file_size" => LimitHit::FileSize,
            _ => return None,
        })
    }
}

/// A playground run: what the snippet printed and what it cost, measured by
/// the sandbox.
#[derive(SimpleObject, Debug)]
pub struct RunResult {
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// Null when a signal ended the run.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cpu_ms: u32,
    pub wall_ms: u32,
    pub memory_kb: u64,
    pub limit_hit: Option<LimitHit>,
}

/// One file of an uploaded problem package (docs/problem-format.md).
#[derive(InputObject, Debug)]
pub struct PackageFileInput {
    /// The path inside the package, e.g. `problem.toml` or `tests/hidden.json`.
    pub path: String,
    pub content: String,
}

/// A known-wrong solution and the verdict the judge gave it (the one its
/// package declares).
#[derive(SimpleObject, Debug)]
pub struct WrongSolutionCheck {
    pub file: String,
    pub verdict: VerdictKind,
}

/// An uploaded package, validated by the judge and imported.
#[derive(SimpleObject, Debug)]
pub struct ProblemPackageImport {
    pub slug: String,
    pub outcome: crate::context::ImportOutcome,
    /// The problem's version afterwards.
    pub version: u32,
    pub problem: Problem,
    /// Tests (examples and hidden ones) the reference solution passed.
    pub tests: u32,
    /// The reference solution's slowest test.
    pub reference_runtime_ms: u32,
    /// The reference solution's largest memory peak.
    pub reference_memory_kb: u64,
    pub wrong_solutions: Vec<WrongSolutionCheck>,
}
