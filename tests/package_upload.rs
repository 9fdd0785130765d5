//! Uploading a problem package through GraphQL (`importProblemPackage`): the
//! same loading and judging as `pydojo problems import`, over HTTP, with the
//! real sandbox; a broken upload names its file and imports nothing.

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};

const IMPORT: &str = "mutation($f: [PackageFileInput!]!) { importProblemPackage(files: $f) { slug outcome version tests referenceRuntimeMs referenceMemoryKb wrongSolutions { file verdict } problem { slug status version } } }";

/// Every file of the starter two-sum package, as `PackageFileInput`s.
fn two_sum_files() -> Vec<Value> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<Value>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_str().unwrap();
                out.push(json!({
                    "path": relative,
                    "content": std::fs::read_to_string(&path).unwrap(),
                }));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("problems/two-sum");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files
}

fn replace(files: &mut [Value], path: &str, f: impl FnOnce(&str) -> String) {
    let file = files
        .iter_mut()
        .find(|file| file["path"] == path)
        .unwrap_or_else(|| panic!("{path} is in the package"));
    file["content"] = f(file["content"].as_str().unwrap()).into();
}

/// The two-sum package's hidden tests are about 600 KB.
async fn spawn() -> Option<TestApp> {
    native_sandbox().await?;
    TestApp::spawn_with(Backend::Sqlite, |a| a.body_limit_bytes = 4 * 1024 * 1024).await
}

async fn problem_exists(app: &TestApp, admin: &str, slug: &str) -> bool {
    let d = app
        .ok(
            Some(admin),
            "query($s: String!) { problem(slug: $s) { slug } }",
            json!({ "s": slug }),
        )
        .await;
    !d["problem"].is_null()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_uploads_a_package_that_is_judged_published_and_unchanged_the_second_time() {
    let Some(app) = spawn().await else { return };
    let admin = app.admin("root").await;

    let d = app
        .ok(Some(&admin), IMPORT, json!({ "f": two_sum_files() }))
        .await;
    let import = &d["importProblemPackage"];
    assert_eq!(import["slug"], "two-sum", "{d}");
    assert_eq!(import["outcome"], "CREATED");
    assert_eq!(import["version"], 1);
    assert_eq!(import["problem"]["status"], "PUBLISHED");
    assert_eq!(import["tests"], 12, "2 examples and 10 hidden tests");
    assert!(import["referenceRuntimeMs"].as_u64().is_some(), "{d}");
    assert!(import["referenceMemoryKb"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(
        import["wrongSolutions"],
        json!([
            { "file": "wrong/quadratic.py", "verdict": "TIME_LIMIT_EXCEEDED" },
            { "file": "wrong/same_index_twice.py", "verdict": "WRONG_ANSWER" },
        ])
    );

    // Published: anyone sees it in the list.
    let (user, _) = app.register("ada").await;
    let d = app
        .ok(Some(&user), "{ problems { slug status } }", json!({}))
        .await;
    assert_eq!(
        d["problems"],
        json!([{ "slug": "two-sum", "status": "PUBLISHED" }])
    );

    let d = app
        .ok(Some(&admin), IMPORT, json!({ "f": two_sum_files() }))
        .await;
    assert_eq!(d["importProblemPackage"]["outcome"], "UNCHANGED");
    assert_eq!(d["importProblemPackage"]["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_upload_is_refused_naming_the_file_and_imports_nothing() {
    let Some(app) = spawn().await else { return };
    let admin = app.admin("root").await;

    let mut files = two_sum_files();
    replace(&mut files, "tests/hidden.json", |_| {
        "[\n  {\"input\": [[3, 3], 6], \"expected\": [0, 1]},\n  {\"input\": [[1, 2], 3], \"expected\": [0, 1],}\n]\n"
            .into()
    });
    let v = app.gql(Some(&admin), IMPORT, json!({ "f": files })).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert_eq!(v["errors"][0]["extensions"]["field"], "tests/hidden.json");
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("tests/hidden.json:3:"), "{message}");

    let mut files = two_sum_files();
    replace(&mut files, "solution.py", |s| {
        s.replace(
            "return [i, j]",
            "return [i, j] if len(nums) < 1000 else [j, i]",
        )
    });
    let v = app.gql(Some(&admin), IMPORT, json!({ "f": files })).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert_eq!(v["errors"][0]["extensions"]["field"], "solution.py");
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("solution.py: the reference solution must pass every test")
            && message.contains("WRONG_ANSWER on hidden test"),
        "{message}"
    );

    let files: Vec<Value> = two_sum_files()
        .into_iter()
        .filter(|f| f["path"] != "template.py")
        .collect();
    let v = app.gql(Some(&admin), IMPORT, json!({ "f": files })).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        "template.py: missing from the upload"
    );

    for path in ["../two-sum/notes.md", "/etc/passwd"] {
        let mut files = two_sum_files();
        files.push(json!({ "path": path, "content": "" }));
        let v = app.gql(Some(&admin), IMPORT, json!({ "f": files })).await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{path}: {v}");
        assert_eq!(v["errors"][0]["extensions"]["field"], path);
    }

    let mut files = two_sum_files();
    files.extend((0..64).map(|i| json!({ "path": format!("notes/{i}.md"), "content": "" })));
    let v = app.gql(Some(&admin), IMPORT, json!({ "f": files })).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert_eq!(v["errors"][0]["extensions"]["field"], "files");

    assert!(!problem_exists(&app, &admin, "two-sum").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_upload_packages() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |a| {
        a.body_limit_bytes = 4 * 1024 * 1024;
    })
    .await
    else {
        return;
    };
    let admin = app.admin("root").await;
    let (user, _) = app.register("ada").await;

    let v = app
        .gql(Some(&user), IMPORT, json!({ "f": two_sum_files() }))
        .await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");
    let v = app.gql(None, IMPORT, json!({ "f": two_sum_files() })).await;
    assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");

    assert!(!problem_exists(&app, &admin, "two-sum").await);
}
