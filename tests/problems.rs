//! Problem packages: the starter set validates against the real judge,
//! broken packages are refused with the file and line, and an import creates,
//! updates or leaves problems, or imports nothing when one package is broken.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::native_sandbox;
use pydojo::problems::{self, PackageError};

fn starter_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("problems")
}

/// A copy of the two-sum package under `root/two-sum`, for breaking.
fn copy_two_sum(root: &Path) -> PathBuf {
    let to = root.join("two-sum");
    copy_dir(&starter_dir().join("two-sum"), &to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

async fn judge() -> Option<executor::Judge<Arc<dyn sandbox::DynSandbox>>> {
    Some(executor::Judge::new(native_sandbox().await?))
}

async fn validate_one(dir: &Path) -> Result<(), PackageError> {
    let package = problems::load(dir)?;
    let judge = judge().await.expect("sandbox checked by the caller");
    problems::validate(&package, &judge).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_starter_problem_validates_with_the_real_judge() {
    let Some(judge) = judge().await else { return };
    let (packages, errors) = problems::load_all(&[starter_dir()]);
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(packages.len() >= 30, "{} starter problems", packages.len());
    let errors = problems::validate_all(&packages, &judge).await;
    assert!(
        errors.is_empty(),
        "{}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The set covers both kinds and every checker, and each problem has the
    // tests, wrong solutions and hints the format asks for.
    use domain::problem::{Checker, ProblemKind};
    assert!(
        packages
            .iter()
            .any(|p| matches!(p.spec.kind, ProblemKind::StdIo))
    );
    assert!(
        packages
            .iter()
            .any(|p| matches!(p.spec.kind, ProblemKind::Function { .. }))
    );
    assert!(
        packages
            .iter()
            .any(|p| matches!(p.spec.checker, Checker::Float { .. }))
    );
    assert!(
        packages
            .iter()
            .any(|p| p.spec.checker == Checker::Unordered)
    );
    for p in &packages {
        assert!(p.spec.hidden_tests.len() >= 10, "{}: hidden tests", p.slug);
        assert!(!p.wrong.is_empty(), "{}: a known-wrong solution", p.slug);
        assert!((2..=3).contains(&p.spec.hints.len()), "{}: hints", p.slug);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_solution_failing_a_test_is_refused_with_the_test() {
    if native_sandbox().await.is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = copy_two_sum(root.path());
    edit(&dir.join("solution.py"), |s| {
        s.replace(
            "return [i, j]",
            "return [i, j] if len(nums) < 1000 else [j, i]",
        )
    });
    let e = validate_one(&dir).await.unwrap_err();
    assert_eq!(e.file, dir.join("solution.py"), "{e}");
    assert!(e.message.contains("WRONG_ANSWER on hidden test"), "{e}");
    assert!(
        e.message.contains("expected [") && e.message.contains("got ["),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_solution_that_passes_is_refused() {
    if native_sandbox().await.is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let dir = copy_two_sum(root.path());
    std::fs::copy(
        dir.join("solution.py"),
        dir.join("wrong/same_index_twice.py"),
    )
    .unwrap();
    let e = validate_one(&dir).await.unwrap_err();
    assert_eq!(e.file, dir.join("wrong/same_index_twice.py"), "{e}");
    assert_eq!(e.message, "declared WRONG_ANSWER but got ACCEPTED");
}

#[test]
fn bad_json_in_a_test_file_names_the_line_and_column() {
    let root = tempfile::tempdir().unwrap();
    let dir = copy_two_sum(root.path());
    std::fs::write(
        dir.join("tests/examples.json"),
        "[\n  {\"input\": [[1, 2], 3], \"expected\": [0, 1]},\n  {\"input\": [[1, 2] 3]}\n]\n",
    )
    .unwrap();
    let e = problems::load(&dir).unwrap_err();
    assert_eq!(e.file, dir.join("tests/examples.json"));
    assert_eq!(e.line.map(|(l, _)| l), Some(3), "{e}");
    assert!(e.to_string().contains("tests/examples.json:3:"), "{e}");
}

#[test]
fn an_entry_point_missing_from_the_template_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = copy_two_sum(root.path());
    edit(&dir.join("template.py"), |s| {
        s.replace("def two_sum(", "def twosum(")
    });
    let e = problems::load(&dir).unwrap_err();
    assert_eq!(e.file, dir.join("template.py"), "{e}");
    assert!(e.message.contains("two_sum"), "{e}");
}

#[test]
fn manifest_mistakes_point_at_their_line() {
    let root = tempfile::tempdir().unwrap();
    let dir = copy_two_sum(root.path());
    let manifest = dir.join("problem.toml");
    let original = std::fs::read_to_string(&manifest).unwrap();

    std::fs::write(&manifest, original.replace("\"easy\"", "\"trivial\"")).unwrap();
    let e = problems::load(&dir).unwrap_err();
    assert_eq!(e.line.map(|(l, _)| l), Some(3), "{e}");
    assert!(e.message.contains("easy, medium or hard"), "{e}");

    std::fs::write(
        &manifest,
        original.replace("time_limit_ms = 1000", "time_limit_ms = \"1s\""),
    )
    .unwrap();
    let e = problems::load(&dir).unwrap_err();
    let line = original
        .lines()
        .position(|l| l.starts_with("time_limit_ms"))
        .unwrap()
        + 1;
    assert_eq!(e.line.map(|(l, _)| l), Some(line), "{e}");

    std::fs::write(
        &manifest,
        original.replace("slug = \"two-sum\"", "slug = \"two-summ\""),
    )
    .unwrap();
    let e = problems::load(&dir).unwrap_err();
    assert!(e.message.contains("directory name"), "{e}");

    std::fs::write(&manifest, original.replace("WRONG_ANSWER", "WRONG")).unwrap();
    let e = problems::load(&dir).unwrap_err();
    assert!(e.message.contains("must be one of"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_creates_updates_and_leaves_problems_and_a_broken_package_imports_nothing() {
    if native_sandbox().await.is_none() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_pydojo");
    let run = |args: &[&str]| {
        let sandbox: &[&str] = if args[0] == "problems" {
            &["--sandbox", "native"]
        } else {
            &[]
        };
        std::process::Command::new(exe)
            .args(args)
            .args(["--data-dir", data.path().to_str().unwrap()])
            .args(sandbox)
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .output()
            .unwrap()
    };
    let created = run(&[
        "admin",
        "create",
        "--username",
        "root",
        "--email",
        "root@example.org",
    ]);
    assert!(created.status.success(), "{created:?}");

    let root = tempfile::tempdir().unwrap();
    let good = copy_two_sum(root.path());
    // A second package that is broken: its reference solution is wrong.
    let broken = root.path().join("broken-sum");
    copy_dir(&good, &broken);
    edit(&broken.join("problem.toml"), |s| {
        s.replace("\"two-sum\"", "\"broken-sum\"")
    });
    edit(&broken.join("solution.py"), |s| {
        s.replace("return [i, j]", "return [j, i]")
    });

    let out = run(&[
        "problems",
        "import",
        root.path().to_str().unwrap(),
        "--admin",
        "root",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("broken-sum/solution.py"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");

    // Nothing of the good package went in either.
    let store = pydojo::open_store(
        &common::storage(common::Backend::Sqlite, data.path())
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let commands = commands::Commands::new(store.clone(), commands::Passwords::fast_for_tests());
    assert!(commands.problem_by_slug("two-sum").await.unwrap().is_none());
    drop(commands);
    drop(store);

    std::fs::remove_dir_all(&broken).unwrap();
    let out = run(&[
        "problems",
        "import",
        good.to_str().unwrap(),
        "--admin",
        "root",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("two-sum: Created"));

    let out = run(&[
        "problems",
        "import",
        good.to_str().unwrap(),
        "--admin",
        "root",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("two-sum: Unchanged"),
        "{out:?}"
    );

    edit(&good.join("statement.md"), |s| {
        s + "\nReturn the indices in increasing order.\n"
    });
    let out = run(&[
        "problems",
        "import",
        good.to_str().unwrap(),
        "--admin",
        "root",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("two-sum: Updated(2)"),
        "{out:?}"
    );

    let store = pydojo::open_store(
        &common::storage(common::Backend::Sqlite, data.path())
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let commands = commands::Commands::new(store, commands::Passwords::fast_for_tests());
    let problem = commands
        .problem_by_slug("two-sum")
        .await
        .unwrap()
        .expect("imported");
    assert_eq!(problem.version, 2);
    assert_eq!(problem.status, domain::problem::ProblemStatus::Published);
    assert!(problem.spec.statement.contains("increasing order"));
    assert_eq!(problem.spec.hidden_tests.len(), 10);
}

/// `serve --demo` seeds an empty data directory once: generated passwords
/// printed, the problems imported and published; a second start adds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_seeds_an_empty_data_directory_once() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let data = tempfile::tempdir().unwrap();
    let set = tempfile::tempdir().unwrap();
    copy_two_sum(set.path());
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pydojo"))
            .args(["serve", "--demo", "--bind", "127.0.0.1:0", "--judge", "off"])
            .arg("--data-dir")
            .arg(data.path())
            .arg("--demo-problems")
            .arg(set.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("pydojo starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("a start-up line").unwrap();
        let url = common::graphql_url(&first);
        let demo = lines.next().expect("a demo line").unwrap();
        let mut accounts = Vec::new();
        if demo.contains("problems imported") {
            for _ in 0..3 {
                let line = lines.next().unwrap().unwrap();
                let parts: Vec<&str> = line.split_whitespace().collect();
                accounts.push((parts[0].to_owned(), parts[2].to_owned()));
            }
        }
        // The reader stays open: the server writes to stdout as it runs.
        (child, url, demo, accounts, lines)
    };

    let (mut child, url, demo, accounts, _out) = start();
    assert!(demo.contains("1 problems imported"), "{demo}");
    let names: Vec<&str> = accounts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["admin", "alice", "bob"]);
    assert!(
        accounts.iter().all(|(_, p)| p.len() >= 16),
        "generated passwords"
    );
    assert_ne!(accounts[1].1, accounts[2].1);

    let client = reqwest::Client::new();
    let gql = |query: &'static str, variables: serde_json::Value, token: Option<String>| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            common::post_graphql(&client, &url, token.as_deref(), query, variables)
                .await
                .unwrap()
        }
    };
    let login = gql(
        "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }",
        serde_json::json!({ "l": "alice", "p": accounts[1].1 }),
        None,
    )
    .await;
    let token = login["data"]["login"]["token"]
        .as_str()
        .expect("alice logs in")
        .to_owned();
    let problems = gql("{ problems { slug } }", serde_json::json!({}), Some(token)).await;
    assert_eq!(
        problems["data"]["problems"][0]["slug"], "two-sum",
        "{problems}"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, _, demo, accounts, _out) = start();
    assert!(demo.contains("already has events"), "{demo}");
    assert!(accounts.is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Export writes what the platform keeps; with the reference solution added
/// back, the exported package loads into the same spec, for every starter
/// problem.
#[test]
fn export_round_trips_every_starter_problem() {
    let (packages, errors) = problems::load_all(&[starter_dir()]);
    assert!(errors.is_empty(), "{errors:#?}");
    let out = tempfile::tempdir().unwrap();
    for package in &packages {
        let dir = out.path().join(&package.slug);
        problems::export(&package.slug, &package.spec, &dir).unwrap();
        std::fs::copy(package.dir.join("solution.py"), dir.join("solution.py")).unwrap();
        let again = problems::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.spec, package.spec, "{}", package.slug);
        assert!(
            problems::export(&package.slug, &package.spec, &dir).is_err(),
            "no overwrite"
        );
    }
}
