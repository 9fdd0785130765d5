//! Problem packages (docs/problem-format.md): loading a package directory,
//! or the same files uploaded through the API, into a [`ProblemSpec`] with
//! errors that name the file and line, checking it against its reference and
//! known-wrong solutions with the real judge, and importing it through the
//! write side.
//!
//! Nothing is imported unless every package given validates: a broken one
//! stops the whole import before the first append.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use domain::DomainError;
use domain::problem::{Checker, Difficulty, Limits, ProblemKind, ProblemSpec, TestCase};
use domain::submission::{Verdict, VerdictKind};
use serde::Deserialize;
use serde_json::Value;

/// A package, loaded and checked for shape (not yet judged).
#[derive(Debug, Clone)]
pub struct Package {
    /// The package's directory; empty for an uploaded package, so that its
    /// errors name files by their path inside the package.
    pub dir: PathBuf,
    pub slug: String,
    pub spec: ProblemSpec,
    pub reference: String,
    pub wrong: Vec<WrongSolution>,
}

/// A known-wrong solution and the verdict it must get.
#[derive(Debug, Clone)]
pub struct WrongSolution {
    pub file: PathBuf,
    pub code: String,
    pub verdict: VerdictKind,
}

/// What is wrong with a package: the file, the place in it when known, and
/// what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageError {
    pub file: PathBuf,
    pub line: Option<(usize, usize)>,
    pub message: String,
}

impl PackageError {
    fn new(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some((line, column)) => write!(
                f,
                "{}:{line}:{column}: {}",
                self.file.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for PackageError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    slug: String,
    title: String,
    difficulty: String,
    #[serde(default)]
    tags: Vec<String>,
    kind: String,
    entry_point: Option<String>,
    params: Option<Vec<String>>,
    limits: ManifestLimits,
    checker: ManifestChecker,
    #[serde(default)]
    hints: Vec<String>,
    #[serde(default)]
    wrong: Vec<ManifestWrong>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestLimits {
    time_limit_ms: u32,
    memory_limit_mb: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestChecker {
    kind: String,
    abs_tol: Option<f64>,
    rel_tol: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestWrong {
    file: String,
    verdict: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestEntry {
    input: Value,
    expected: Value,
    #[serde(default)]
    explanation: Option<String>,
}

const MANIFEST: &str = "problem.toml";
const STATEMENT: &str = "statement.md";
const TEMPLATE: &str = "template.py";
const REFERENCE: &str = "solution.py";
const EXAMPLES: &str = "tests/examples.json";
const HIDDEN: &str = "tests/hidden.json";

/// The package directories under `path`: `path` itself when it holds a
/// `problem.toml`, else its subdirectories that do, sorted.
pub fn find_packages(path: &Path) -> Result<Vec<PathBuf>, PackageError> {
    if path.join(MANIFEST).is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        PackageError::new(
            path,
            format!("not a package and not a directory of packages: {e}"),
        )
    })?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST).is_file())
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(PackageError::new(
            path,
            format!("no {MANIFEST} here or in any subdirectory"),
        ));
    }
    Ok(found)
}

/// Where a package's files come from.
#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    Dir(&'a Path),
    /// Package-relative paths (normalised, `/`-separated) to contents.
    Upload(&'a BTreeMap<String, String>),
}

impl Source<'_> {
    /// The name errors give `name`: under the directory, or as uploaded.
    fn path(self, name: &str) -> PathBuf {
        match self {
            Source::Dir(dir) => dir.join(name),
            Source::Upload(_) => PathBuf::from(name),
        }
    }

    fn read(self, name: &str) -> Result<String, PackageError> {
        match self {
            Source::Dir(dir) => std::fs::read_to_string(dir.join(name))
                .map_err(|e| PackageError::new(dir.join(name), format!("cannot read: {e}"))),
            Source::Upload(files) => package_path(name)
                .and_then(|key| files.get(&key))
                .cloned()
                .ok_or_else(|| PackageError::new(name, "missing from the upload")),
        }
    }
}

/// Loads and shape-checks the package in `dir`.
pub fn load(dir: &Path) -> Result<Package, PackageError> {
    load_from(Source::Dir(dir))
}

/// Loads and shape-checks an uploaded package: `(path, contents)` pairs
/// with paths relative to the package root (`problem.toml`,
/// `tests/hidden.json`, …). The checks are those of [`load`], except that
/// there is no directory name for the slug to match; errors name the files
/// by these paths.
pub fn load_files(files: Vec<(String, String)>) -> Result<Package, PackageError> {
    let mut by_path = BTreeMap::new();
    for (path, contents) in files {
        let normal = package_path(&path).ok_or_else(|| {
            PackageError::new(
                &path,
                "a file's path must be relative and stay inside the package (no `..`)",
            )
        })?;
        if by_path.insert(normal.clone(), contents).is_some() {
            return Err(PackageError::new(normal, "uploaded more than once"));
        }
    }
    load_from(Source::Upload(&by_path))
}

/// `path` as a key of an upload: its normal components joined by `/`, or
/// `None` when it is absolute, empty or leaves the package.
fn package_path(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn load_from(source: Source<'_>) -> Result<Package, PackageError> {
    let read = |name: &str| source.read(name);
    let manifest_path = source.path(MANIFEST);
    let text = read(MANIFEST)?;
    let manifest: Manifest = toml::from_str(&text).map_err(|e| {
        let mut message = e.message().to_owned();
        if message.starts_with("unknown field") {
            message.push_str(
                " (in TOML a key after a [table] header belongs to that table: \
                 put the top-level keys before [limits])",
            );
        }
        PackageError {
            file: manifest_path.clone(),
            line: e.span().map(|span| line_column(&text, span.start)),
            message,
        }
    })?;
    let in_manifest = |key: &str, message: String| {
        let line = find_key(&text, key);
        PackageError {
            file: manifest_path.clone(),
            line,
            message,
        }
    };

    if let Source::Dir(dir) = source {
        let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if manifest.slug != dir_name {
            return Err(in_manifest(
                "slug",
                format!(
                    "slug {:?} must equal the directory name {dir_name:?}",
                    manifest.slug
                ),
            ));
        }
    }
    domain::problem::validate_slug(&manifest.slug)
        .map_err(|e| in_manifest("slug", e.to_string()))?;
    let difficulty = match manifest.difficulty.as_str() {
        "easy" => Difficulty::Easy,
        "medium" => Difficulty::Medium,
        "hard" => Difficulty::Hard,
        other => {
            return Err(in_manifest(
                "difficulty",
                format!("difficulty {other:?} must be easy, medium or hard"),
            ));
        }
    };
    let kind = match (
        manifest.kind.as_str(),
        manifest.entry_point,
        manifest.params,
    ) {
        ("function", Some(entry_point), Some(params)) => ProblemKind::Function {
            entry_point,
            params,
        },
        ("function", _, _) => {
            return Err(in_manifest(
                "kind",
                "a function problem needs entry_point and params".to_owned(),
            ));
        }
        ("stdio", None, None) => ProblemKind::StdIo,
        ("stdio", _, _) => {
            return Err(in_manifest(
                "entry_point",
                "a stdio problem has no entry_point or params".to_owned(),
            ));
        }
        (other, _, _) => {
            return Err(in_manifest(
                "kind",
                format!("kind {other:?} must be function or stdio"),
            ));
        }
    };
    let checker = match (
        manifest.checker.kind.as_str(),
        manifest.checker.abs_tol,
        manifest.checker.rel_tol,
    ) {
        ("exact", None, None) => Checker::Exact,
        ("unordered", None, None) => Checker::Unordered,
        ("float", abs, rel) if abs.is_some() || rel.is_some() => Checker::Float {
            abs_tol: abs.unwrap_or(0.0),
            rel_tol: rel.unwrap_or(0.0),
        },
        ("float", _, _) => {
            return Err(in_manifest(
                "checker",
                "a float checker needs abs_tol or rel_tol".to_owned(),
            ));
        }
        ("exact" | "unordered", _, _) => {
            return Err(in_manifest(
                "checker",
                "tolerances belong to the float checker only".to_owned(),
            ));
        }
        (other, _, _) => {
            return Err(in_manifest(
                "checker",
                format!("checker {other:?} must be exact, float or unordered"),
            ));
        }
    };
    if manifest.hints.iter().any(|h| h.trim().is_empty()) {
        return Err(in_manifest("hints", "hints must not be empty".to_owned()));
    }

    let examples = load_tests(source, EXAMPLES, &kind)?;
    let hidden_tests = load_tests(source, HIDDEN, &kind)?;
    let spec = ProblemSpec {
        title: manifest.title,
        statement: read(STATEMENT)?,
        difficulty,
        tags: manifest.tags,
        kind,
        template: read(TEMPLATE)?,
        examples,
        hidden_tests,
        limits: Limits {
            time_limit_ms: manifest.limits.time_limit_ms,
            memory_limit_mb: manifest.limits.memory_limit_mb,
        },
        checker,
        hints: manifest.hints,
    };
    domain::problem::validate_spec(&spec).map_err(|e| spec_error(source, &text, e))?;

    let reference = read(REFERENCE)?;
    let mut wrong = Vec::new();
    for entry in manifest.wrong {
        let verdict = parse_verdict(&entry.verdict)
            .ok_or_else(|| in_manifest("verdict", format!(
                "verdict {:?} of {} must be one of WRONG_ANSWER, TIME_LIMIT_EXCEEDED, MEMORY_LIMIT_EXCEEDED, OUTPUT_LIMIT_EXCEEDED, RUNTIME_ERROR, COMPILE_ERROR",
                entry.verdict, entry.file
            )))?;
        let relative = Path::new(&entry.file);
        if relative.is_absolute()
            || relative
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(in_manifest(
                "file",
                format!(
                    "wrong solution path {:?} must be relative, inside the package",
                    entry.file
                ),
            ));
        }
        let code = read(&entry.file)?;
        wrong.push(WrongSolution {
            file: source.path(&entry.file),
            code,
            verdict,
        });
    }
    Ok(Package {
        dir: match source {
            Source::Dir(dir) => dir.to_path_buf(),
            Source::Upload(_) => PathBuf::new(),
        },
        slug: manifest.slug,
        spec,
        reference,
        wrong,
    })
}

/// One test file: JSON array of `{input, expected, explanation?}`, turned
/// into the domain's text form (JSON text for function problems).
fn load_tests(
    source: Source<'_>,
    name: &str,
    kind: &ProblemKind,
) -> Result<Vec<TestCase>, PackageError> {
    let path = source.path(name);
    let text = source.read(name)?;
    let entries: Vec<TestEntry> = serde_json::from_str(&text).map_err(|e| PackageError {
        file: path.clone(),
        line: Some((e.line(), e.column())),
        message: e.to_string(),
    })?;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let (input, expected) = match kind {
                ProblemKind::Function { .. } => (t.input.to_string(), t.expected.to_string()),
                ProblemKind::StdIo => match (t.input, t.expected) {
                    (Value::String(input), Value::String(expected)) => (input, expected),
                    _ => {
                        return Err(PackageError::new(
                            &path,
                            format!(
                                "test {i}: a stdio problem's input and expected must be strings"
                            ),
                        ));
                    }
                },
            };
            Ok(TestCase {
                input,
                expected,
                explanation: t.explanation,
            })
        })
        .collect()
}

/// The domain's objection to a spec, pointed at the file it comes from.
fn spec_error(source: Source<'_>, manifest: &str, e: DomainError) -> PackageError {
    let DomainError::Invalid { field, message } = &e else {
        return PackageError::new(source.path(MANIFEST), e.to_string());
    };
    let file = match *field {
        "statement" => STATEMENT,
        "template" => TEMPLATE,
        "examples" => EXAMPLES,
        "hiddenTests" => HIDDEN,
        _ => MANIFEST,
    };
    let line = (file == MANIFEST)
        .then(|| find_key(manifest, &snake(field)))
        .flatten();
    PackageError {
        file: source.path(file),
        line,
        message: format!("{field}: {message}"),
    }
}

fn snake(field: &str) -> String {
    let mut out = String::new();
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The line and column of the first line of `text` that sets `key`.
fn find_key(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let trimmed = line.trim_start();
        let rest = trimmed.strip_prefix(key)?;
        rest.trim_start()
            .starts_with('=')
            .then(|| (i + 1, line.len() - trimmed.len() + 1))
    })
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn parse_verdict(text: &str) -> Option<VerdictKind> {
    Some(match text {
        "WRONG_ANSWER" => VerdictKind::WrongAnswer,
        "TIME_LIMIT_EXCEEDED" => VerdictKind::TimeLimitExceeded,
        "MEMORY_LIMIT_EXCEEDED" => VerdictKind::MemoryLimitExceeded,
        "OUTPUT_LIMIT_EXCEEDED" => VerdictKind::OutputLimitExceeded,
        "RUNTIME_ERROR" => VerdictKind::RuntimeError,
        "COMPILE_ERROR" => VerdictKind::CompileError,
        _ => return None,
    })
}

fn verdict_name(kind: VerdictKind) -> String {
    kind.as_str().to_ascii_uppercase()
}

/// What judging a package showed.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The reference solution's slowest test and largest peak.
    pub reference_runtime_ms: u32,
    pub reference_memory_kb: u64,
    pub tests: usize,
    pub wrong: Vec<(PathBuf, VerdictKind)>,
}

/// Judges the reference solution (it must pass every test) and each wrong
/// solution (each must get its declared verdict) with `judge`. The hidden
/// tests are judged as visible ones here, so a failure shows its input,
/// expected and actual output to the author.
pub async fn validate<S: sandbox::Sandbox>(
    package: &Package,
    judge: &executor::Judge<S>,
) -> Result<Validated, PackageError> {
    let mut open = package.spec.clone();
    open.examples.append(&mut open.hidden_tests.clone());
    open.hidden_tests.clear();
    let examples = package.spec.examples.len();

    let verdict = judge.judge(&open, &package.reference).await;
    if verdict.kind != VerdictKind::Accepted {
        return Err(PackageError::new(
            package.dir.join(REFERENCE),
            format!(
                "the reference solution must pass every test: {}",
                describe(&verdict, examples)
            ),
        ));
    }
    let mut wrong = Vec::new();
    for w in &package.wrong {
        let got = judge.judge(&open, &w.code).await;
        if got.kind != w.verdict {
            return Err(PackageError::new(
                &w.file,
                format!(
                    "declared {} but got {}{}",
                    verdict_name(w.verdict),
                    verdict_name(got.kind),
                    if got.kind == VerdictKind::Accepted {
                        String::new()
                    } else {
                        format!(": {}", describe(&got, examples))
                    }
                ),
            ));
        }
        wrong.push((w.file.clone(), got.kind));
    }
    Ok(Validated {
        reference_runtime_ms: verdict.runtime_ms,
        reference_memory_kb: verdict.memory_kb,
        tests: open.examples.len(),
        wrong,
    })
}

/// "WRONG_ANSWER on hidden test 3: …" for a failed verdict of the opened
/// spec, whose first `examples` tests are the package's examples.
fn describe(verdict: &Verdict, examples: usize) -> String {
    let failed = verdict.tests.last().map(|t| t.index as usize);
    let which = match failed {
        Some(i) if i < examples => format!(" on example {i}"),
        Some(i) => format!(" on hidden test {} (tests/hidden.json)", i - examples),
        None => String::new(),
    };
    let mut text = format!("{}{which}", verdict_name(verdict.kind));
    if let Some(f) = &verdict.failed_example {
        let short = |s: &str| {
            if s.len() > 200 {
                format!("{}…", &s[..s.floor_char_boundary(200)])
            } else {
                s.to_owned()
            }
        };
        text.push_str(&format!(
            ": expected {}, got {}",
            short(&f.expected),
            short(&f.actual)
        ));
    }
    if let Some(m) = &verdict.message {
        text.push_str(&format!(": {m}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_and_offsets() {
        let text = "slug = \"a\"\n  title = \"b\"\n";
        assert_eq!(find_key(text, "title"), Some((2, 3)));
        assert_eq!(find_key(text, "kind"), None);
        assert_eq!(line_column(text, 13), (2, 3));
        assert_eq!(snake("hiddenTests"), "hidden_tests");
    }

    #[test]
    fn uploaded_paths_stay_inside_the_package() {
        assert_eq!(
            package_path("./tests//hidden.json").as_deref(),
            Some("tests/hidden.json")
        );
        assert_eq!(package_path("../two-sum/solution.py"), None);
        assert_eq!(package_path("wrong/../../x.py"), None);
        assert_eq!(package_path("/etc/passwd"), None);
        assert_eq!(package_path(""), None);
    }
}

/// Loads every package under `paths` (see [`find_packages`]); all errors,
/// not only the first.
pub fn load_all(paths: &[PathBuf]) -> (Vec<Package>, Vec<PackageError>) {
    let mut packages = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match find_packages(path) {
            Ok(dirs) => {
                for dir in dirs {
                    match load(&dir) {
                        Ok(p) => packages.push(p),
                        Err(e) => errors.push(e),
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    (packages, errors)
}

/// Judges `packages` two at a time, printing a line per package as it
/// finishes; returns the errors.
pub async fn validate_all<S: sandbox::Sandbox>(
    packages: &[Package],
    judge: &executor::Judge<S>,
) -> Vec<PackageError> {
    use futures::StreamExt as _;
    let total = packages.len();
    let mut done = 0;
    let mut errors = Vec::new();
    let mut results = futures::stream::iter(packages)
        .map(|p| async move { (p, validate(p, judge).await) })
        .buffer_unordered(2);
    while let Some((package, result)) = results.next().await {
        done += 1;
        match result {
            Ok(v) => {
                let wrong: Vec<String> = v
                    .wrong
                    .iter()
                    .map(|(f, k)| {
                        format!(
                            "{} {}",
                            f.file_name().unwrap_or_default().to_string_lossy(),
                            verdict_name(*k)
                        )
                    })
                    .collect();
                println!(
                    "[{done}/{total}] ok   {}: {} tests, reference max {} ms / {} KB{}",
                    package.slug,
                    v.tests,
                    v.reference_runtime_ms,
                    v.reference_memory_kb,
                    if wrong.is_empty() {
                        String::new()
                    } else {
                        format!("; wrong: {}", wrong.join(", "))
                    }
                );
            }
            Err(e) => {
                println!("[{done}/{total}] FAIL {}: {e}", package.slug);
                errors.push(e);
            }
        }
    }
    errors
}

/// What an import did to one problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Created,
    /// A new version (the statement, tests or limits changed).
    Updated(u32),
    Unchanged,
}

/// Creates and publishes the problem, or edits it (a new version) when it
/// exists with another spec. Packages must have been validated.
pub async fn import(
    commands: &commands::Commands,
    actor: &commands::Actor,
    package: &Package,
) -> Result<Imported, commands::Error> {
    Ok(import_package(commands, actor, package).await?.imported)
}

/// What [`import_package`] did and where it left the problem.
#[derive(Debug, Clone, Copy)]
pub struct ImportDone {
    pub imported: Imported,
    /// The problem's version afterwards.
    pub version: u32,
    /// The last event appended, for read-your-writes; `None` when nothing was.
    pub cursor: Option<store::Cursor>,
}

/// [`import`], also telling the version and the last append.
pub async fn import_package(
    commands: &commands::Commands,
    actor: &commands::Actor,
    package: &Package,
) -> Result<ImportDone, commands::Error> {
    use domain::problem::ProblemStatus;
    // What the problem is after this import follows from what it was: a new
    // problem is a draft at version 1, an edit keeps the status and returns
    // the new version, and publishing keeps the version.
    let (imported, status, version, mut cursor) =
        match commands.problem_by_slug(&package.slug).await? {
            None => {
                let done = commands
                    .create_problem(actor, &package.slug, package.spec.clone())
                    .await?;
                (
                    Imported::Created,
                    ProblemStatus::Draft,
                    1,
                    Some(done.cursor),
                )
            }
            Some(existing) if existing.spec == package.spec => {
                (Imported::Unchanged, existing.status, existing.version, None)
            }
            Some(existing) => {
                let done = commands
                    .edit_problem(actor, &package.slug, package.spec.clone())
                    .await?;
                (
                    Imported::Updated(done.value),
                    existing.status,
                    done.value,
                    Some(done.cursor),
                )
            }
        };
    if status == ProblemStatus::Draft {
        let done = commands.publish_problem(actor, &package.slug).await?;
        cursor = Some(done.cursor);
    }
    Ok(ImportDone {
        imported,
        version,
        cursor,
    })
}

/// Imports packages uploaded through the API (`importProblemPackage`) with
/// the checks and the real judge of `pydojo problems import`: nothing is
/// appended unless the package loads and validates.
pub struct UploadedPackages {
    commands: commands::Commands,
    judge: executor::Judge<Arc<dyn sandbox::DynSandbox>>,
}

impl fmt::Debug for UploadedPackages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadedPackages").finish_non_exhaustive()
    }
}

impl UploadedPackages {
    pub fn new(commands: commands::Commands, sandbox: Arc<dyn sandbox::DynSandbox>) -> Self {
        Self {
            commands,
            judge: executor::Judge::new(sandbox),
        }
    }
}

impl UploadedPackages {
    #[tracing::instrument(skip_all, fields(slug = %package.slug, by = %actor.user_id))]
    async fn judge_and_import(
        &self,
        actor: &commands::Actor,
        package: Package,
    ) -> Result<graphql::ImportReport, graphql::PackageImportError> {
        let validated = validate(&package, &self.judge).await.map_err(invalid)?;
        let done = import_package(&self.commands, actor, &package).await?;
        tracing::info!(imported = ?done.imported, version = done.version, "imported an uploaded package");
        Ok(graphql::ImportReport {
            slug: package.slug,
            outcome: match done.imported {
                Imported::Created => graphql::ImportOutcome::Created,
                Imported::Updated(_) => graphql::ImportOutcome::Updated,
                Imported::Unchanged => graphql::ImportOutcome::Unchanged,
            },
            version: done.version,
            cursor: done.cursor,
            tests: validated.tests,
            reference_runtime_ms: validated.reference_runtime_ms,
            reference_memory_kb: validated.reference_memory_kb,
            wrong: validated
                .wrong
                .into_iter()
                .map(|(file, kind)| (file.display().to_string(), kind))
                .collect(),
        })
    }
}

fn invalid(e: PackageError) -> graphql::PackageImportError {
    graphql::PackageImportError::Invalid {
        file: e.file.display().to_string(),
        message: e.to_string(),
    }
}

impl graphql::PackageImporter for UploadedPackages {
    fn import(
        &self,
        actor: commands::Actor,
        files: Vec<(String, String)>,
    ) -> futures::future::BoxFuture<'_, Result<graphql::ImportReport, graphql::PackageImportError>>
    {
        Box::pin(async move {
            let package = load_files(files).map_err(invalid)?;
            self.judge_and_import(&actor, package).await
        })
    }
}

/// Writes `spec` as a package in `dir` (created; must not hold a package
/// already): everything the platform keeps of a problem. The reference
/// solution and the known-wrong solutions are not kept by the
/// platform, so the package needs its `solution.py` again before it
/// validates. Returns the files written.
pub fn export(slug: &str, spec: &ProblemSpec, dir: &Path) -> Result<Vec<PathBuf>, PackageError> {
    if dir.join(MANIFEST).exists() {
        return Err(PackageError::new(
            dir.join(MANIFEST),
            "a package is already here; export into a new directory",
        ));
    }
    let io = |path: &Path, e: std::io::Error| PackageError::new(path, format!("cannot write: {e}"));
    std::fs::create_dir_all(dir.join("tests")).map_err(|e| io(dir, e))?;

    let mut manifest = toml::Table::new();
    manifest.insert("slug".into(), slug.into());
    manifest.insert("title".into(), spec.title.as_str().into());
    let difficulty = match spec.difficulty {
        Difficulty::Easy => "easy",
        Difficulty::Medium => "medium",
        Difficulty::Hard => "hard",
    };
    manifest.insert("difficulty".into(), difficulty.into());
    manifest.insert(
        "tags".into(),
        toml::Value::Array(spec.tags.iter().map(|t| t.as_str().into()).collect()),
    );
    match &spec.kind {
        ProblemKind::Function {
            entry_point,
            params,
        } => {
            manifest.insert("kind".into(), "function".into());
            manifest.insert("entry_point".into(), entry_point.as_str().into());
            manifest.insert(
                "params".into(),
                toml::Value::Array(params.iter().map(|p| p.as_str().into()).collect()),
            );
        }
        ProblemKind::StdIo => {
            manifest.insert("kind".into(), "stdio".into());
        }
    }
    if !spec.hints.is_empty() {
        manifest.insert(
            "hints".into(),
            toml::Value::Array(spec.hints.iter().map(|h| h.as_str().into()).collect()),
        );
    }
    let mut limits = toml::Table::new();
    limits.insert(
        "time_limit_ms".into(),
        i64::from(spec.limits.time_limit_ms).into(),
    );
    limits.insert(
        "memory_limit_mb".into(),
        i64::from(spec.limits.memory_limit_mb).into(),
    );
    manifest.insert("limits".into(), limits.into());
    let mut checker = toml::Table::new();
    match spec.checker {
        Checker::Exact => {
            checker.insert("kind".into(), "exact".into());
        }
        Checker::Unordered => {
            checker.insert("kind".into(), "unordered".into());
        }
        Checker::Float { abs_tol, rel_tol } => {
            checker.insert("kind".into(), "float".into());
            checker.insert("abs_tol".into(), abs_tol.into());
            checker.insert("rel_tol".into(), rel_tol.into());
        }
    }
    manifest.insert("checker".into(), checker.into());
    let manifest = toml::to_string(&manifest)
        .map_err(|e| PackageError::new(dir.join(MANIFEST), e.to_string()))?;

    let tests = |cases: &[TestCase]| -> Result<String, PackageError> {
        let entries: Vec<Value> = cases
            .iter()
            .map(|t| {
                let (input, expected) = match spec.kind {
                    ProblemKind::Function { .. } => (
                        serde_json::from_str(&t.input).unwrap_or(Value::String(t.input.clone())),
                        serde_json::from_str(&t.expected)
                            .unwrap_or(Value::String(t.expected.clone())),
                    ),
                    ProblemKind::StdIo => (
                        Value::String(t.input.clone()),
                        Value::String(t.expected.clone()),
                    ),
                };
                let mut entry = serde_json::json!({ "input": input, "expected": expected });
                if let Some(explanation) = &t.explanation {
                    entry["explanation"] = explanation.as_str().into();
                }
                entry
            })
            .collect();
        serde_json::to_string_pretty(&entries).map_err(|e| PackageError::new(dir, e.to_string()))
    };
    let files = [
        (MANIFEST, manifest),
        (STATEMENT, spec.statement.clone()),
        (TEMPLATE, spec.template.clone()),
        (EXAMPLES, tests(&spec.examples)?),
        (HIDDEN, tests(&spec.hidden_tests)?),
    ];
    let mut written = Vec::new();
    for (name, contents) in files {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(|e| io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
