//! The problem aggregate: authoring, editing (each edit bumps the version),
//! publishing and archiving.

use serde::{Deserialize, Serialize};

use crate::{Aggregate, DomainError, ProblemId, Timestamp, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
}

impl Difficulty {
    pub fn as_str(self) -> &'static str {
        match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        }
    }
}

/// How a solution is called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProblemKind {
    /// LeetCode style: a function `entry_point(params…)`; test inputs are JSON
    /// arrays of arguments and expected outputs are JSON values.
    Function {
        entry_point: String,
        params: Vec<String>,
    },
    /// A program that reads stdin and writes stdout.
    StdIo,
}

/// How an actual output is compared with the expected one (outside the sandbox).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Checker {
    Exact,
    /// Numbers match when within `abs_tol` or `rel_tol`, whichever is looser.
    Float {
        abs_tol: f64,
        rel_tol: f64,
    },
    /// Lines (stdio) or list elements (function) match as a multiset.
    Unordered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCase {
    pub input: String,
    pub expected: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub time_limit_ms: u32,
    pub memory_limit_mb: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            time_limit_ms: 2000,
            memory_limit_mb: 256,
        }
    }
}

/// Everything an author writes. Events carry it whole, so readers need no lookups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemSpec {
    pub title: String,
    pub statement: String,
    pub difficulty: Difficulty,
    pub tags: Vec<String>,
    pub kind: ProblemKind,
    pub template: String,
    pub examples: Vec<TestCase>,
    pub hidden_tests: Vec<TestCase>,
    pub limits: Limits,
    pub checker: Checker,
    /// Graded hints, from a nudge to nearly the idea, for the tutor to give
    /// one at a time. Never shown with the problem. Absent in events written
    /// before hints were kept, hence the default.
    #[serde(default)]
    pub hints: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ProblemStatus {
    #[default]
    Draft,
    Published,
    Archived,
}

impl ProblemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemStatus::Draft => "draft",
            ProblemStatus::Published => "published",
            ProblemStatus::Archived => "archived",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProblemEvent {
    ProblemCreated {
        problem_id: ProblemId,
        slug: String,
        spec: ProblemSpec,
        version: u32,
        by: UserId,
        at: Timestamp,
    },
    ProblemEdited {
        problem_id: ProblemId,
        spec: ProblemSpec,
        version: u32,
        by: UserId,
        at: Timestamp,
    },
    ProblemPublished {
        problem_id: ProblemId,
        version: u32,
        by: UserId,
        at: Timestamp,
    },
    ProblemArchived {
        problem_id: ProblemId,
        by: UserId,
        at: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProblemCommand {
    Create {
        problem_id: ProblemId,
        slug: String,
        spec: ProblemSpec,
        by: UserId,
        at: Timestamp,
    },
    Edit {
        spec: ProblemSpec,
        by: UserId,
        at: Timestamp,
    },
    Publish {
        by: UserId,
        at: Timestamp,
    },
    Archive {
        by: UserId,
        at: Timestamp,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Problem(pub Option<ProblemState>);

#[derive(Debug, Clone, PartialEq)]
pub struct ProblemState {
    pub id: ProblemId,
    pub slug: String,
    pub spec: ProblemSpec,
    pub version: u32,
    pub status: ProblemStatus,
}

pub const TITLE_MAX: usize = 120;
pub const STATEMENT_MAX: usize = 64 * 1024;
pub const TEMPLATE_MAX: usize = 16 * 1024;
pub const TAGS_MAX: usize = 10;
pub const HINTS_MAX: usize = 10;
pub const HINT_MAX: usize = 2000;
pub const TESTS_MAX: usize = 500;
pub const TEST_FIELD_MAX: usize = 1024 * 1024;

/// Slugs are 3 to 64 lowercase letters, digits and single dashes.
pub fn validate_slug(slug: &str) -> Result<(), DomainError> {
    let ok = (3..=64).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "slug",
            "must be 3 to 64 characters of a-z, 0-9 and single dashes, not starting or ending with a dash",
        ))
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
}

/// Checks everything about a spec that does not need the judge.
pub fn validate_spec(spec: &ProblemSpec) -> Result<(), DomainError> {
    let title = spec.title.trim();
    if title.is_empty() || title.chars().count() > TITLE_MAX {
        return Err(DomainError::invalid(
            "title",
            format!("must be 1 to {TITLE_MAX} characters"),
        ));
    }
    if spec.statement.trim().is_empty() || spec.statement.len() > STATEMENT_MAX {
        return Err(DomainError::invalid(
            "statement",
            format!("must be 1 to {STATEMENT_MAX} bytes"),
        ));
    }
    if spec.template.len() > TEMPLATE_MAX {
        return Err(DomainError::invalid(
            "template",
            format!("must be at most {TEMPLATE_MAX} bytes"),
        ));
    }
    if spec.tags.len() > TAGS_MAX {
        return Err(DomainError::invalid(
            "tags",
            format!("at most {TAGS_MAX} tags"),
        ));
    }
    for tag in &spec.tags {
        if tag.is_empty()
            || tag.len() > 32
            || !tag
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(DomainError::invalid(
                "tags",
                format!("tag {tag:?} must be 1 to 32 characters of a-z, 0-9 and '-'"),
            ));
        }
    }
    if spec.hints.len() > HINTS_MAX {
        return Err(DomainError::invalid(
            "hints",
            format!("at most {HINTS_MAX} hints"),
        ));
    }
    if spec
        .hints
        .iter()
        .any(|h| h.trim().is_empty() || h.len() > HINT_MAX)
    {
        return Err(DomainError::invalid(
            "hints",
            format!("each hint must be 1 to {HINT_MAX} bytes"),
        ));
    }
    if !(100..=20_000).contains(&spec.limits.time_limit_ms) {
        return Err(DomainError::invalid(
            "timeLimitMs",
            "must be between 100 and 20000",
        ));
    }
    if !(16..=1024).contains(&spec.limits.memory_limit_mb) {
        return Err(DomainError::invalid(
            "memoryLimitMb",
            "must be between 16 and 1024",
        ));
    }
    if let Checker::Float { abs_tol, rel_tol } = spec.checker {
        let ok = |t: f64| t.is_finite() && (0.0..1.0).contains(&t);
        if !ok(abs_tol) || !ok(rel_tol) || (abs_tol == 0.0 && rel_tol == 0.0) {
            return Err(DomainError::invalid(
                "checker",
                "float tolerances must be in [0, 1) and not both zero",
            ));
        }
    }
    if spec.hidden_tests.is_empty() {
        return Err(DomainError::invalid(
            "hiddenTests",
            "a problem needs at least one hidden test",
        ));
    }
    if spec.examples.len() + spec.hidden_tests.len() > TESTS_MAX {
        return Err(DomainError::invalid(
            "hiddenTests",
            format!("at most {TESTS_MAX} tests in all"),
        ));
    }
    if let ProblemKind::Function {
        entry_point,
        params,
    } = &spec.kind
    {
        if !is_identifier(entry_point) {
            return Err(DomainError::invalid(
                "entryPoint",
                "must be a Python identifier",
            ));
        }
        if let Some(p) = params.iter().find(|p| !is_identifier(p)) {
            return Err(DomainError::invalid(
                "params",
                format!("{p:?} is not a Python identifier"),
            ));
        }
        if !spec.template.contains(&format!("def {entry_point}(")) {
            return Err(DomainError::invalid(
                "template",
                format!("must define the entry point `def {entry_point}(`"),
            ));
        }
    }
    for (field, tests) in [
        ("examples", &spec.examples),
        ("hiddenTests", &spec.hidden_tests),
    ] {
        for (i, t) in tests.iter().enumerate() {
            validate_test(field, i, t, &spec.kind)?;
        }
    }
    Ok(())
}

fn validate_test(
    field: &'static str,
    i: usize,
    t: &TestCase,
    kind: &ProblemKind,
) -> Result<(), DomainError> {
    if t.input.len() > TEST_FIELD_MAX || t.expected.len() > TEST_FIELD_MAX {
        return Err(DomainError::invalid(
            field,
            format!(
                "test {}: input and expected output must be at most 1 MiB each",
                i + 1
            ),
        ));
    }
    if let ProblemKind::Function { params, .. } = kind {
        let args: serde_json::Value = serde_json::from_str(&t.input).map_err(|e| {
            DomainError::invalid(field, format!("test {}: input is not JSON: {e}", i + 1))
        })?;
        match args.as_array() {
            Some(a) if a.len() == params.len() => {}
            _ => {
                return Err(DomainError::invalid(
                    field,
                    format!(
                        "test {}: input must be a JSON array of {} argument(s)",
                        i + 1,
                        params.len()
                    ),
                ));
            }
        }
        serde_json::from_str::<serde_json::Value>(&t.expected).map_err(|e| {
            DomainError::invalid(
                field,
                format!("test {}: expected output is not JSON: {e}", i + 1),
            )
        })?;
    }
    Ok(())
}

impl Aggregate for Problem {
    type Command = ProblemCommand;
    type Event = ProblemEvent;

    fn evolve(self, event: &ProblemEvent) -> Self {
        use ProblemEvent::*;
        let mut state = self.0;
        match event {
            ProblemCreated {
                problem_id,
                slug,
                spec,
                version,
                ..
            } => {
                state = Some(ProblemState {
                    id: *problem_id,
                    slug: slug.clone(),
                    spec: spec.clone(),
                    version: *version,
                    status: ProblemStatus::Draft,
                });
            }
            ProblemEdited { spec, version, .. } => {
                if let Some(s) = state.as_mut() {
                    s.spec = spec.clone();
                    s.version = *version;
                }
            }
            ProblemPublished { .. } => {
                if let Some(s) = state.as_mut() {
                    s.status = ProblemStatus::Published;
                }
            }
            ProblemArchived { .. } => {
                if let Some(s) = state.as_mut() {
                    s.status = ProblemStatus::Archived;
                }
            }
        }
        Problem(state)
    }

    fn decide(&self, command: ProblemCommand) -> Result<Vec<ProblemEvent>, DomainError> {
        use ProblemCommand::*;
        let Some(state) = &self.0 else {
            return match command {
                Create {
                    problem_id,
                    slug,
                    spec,
                    by,
                    at,
                } => {
                    validate_slug(&slug)?;
                    validate_spec(&spec)?;
                    Ok(vec![ProblemEvent::ProblemCreated {
                        problem_id,
                        slug,
                        spec,
                        version: 1,
                        by,
                        at,
                    }])
                }
                _ => Err(DomainError::NotFound("problem")),
            };
        };
        let problem_id = state.id;
        match command {
            Create { .. } => Err(DomainError::AlreadyExists("problem")),
            Edit { spec, by, at } => {
                validate_spec(&spec)?;
                if spec == state.spec {
                    return Ok(vec![]);
                }
                Ok(vec![ProblemEvent::ProblemEdited {
                    problem_id,
                    spec,
                    version: state.version + 1,
                    by,
                    at,
                }])
            }
            Publish { by, at } => {
                if state.status == ProblemStatus::Published {
                    return Err(DomainError::InvalidState(
                        "problem is already published".into(),
                    ));
                }
                Ok(vec![ProblemEvent::ProblemPublished {
                    problem_id,
                    version: state.version,
                    by,
                    at,
                }])
            }
            Archive { by, at } => {
                if state.status == ProblemStatus::Archived {
                    return Err(DomainError::InvalidState(
                        "problem is already archived".into(),
                    ));
                }
                Ok(vec![ProblemEvent::ProblemArchived { problem_id, by, at }])
            }
        }
    }
}
