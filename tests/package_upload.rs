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

const IMPORT_ZIP: &str = "mutation($f: Upload!) { importProblemPackageZip(file: $f) { slug outcome version problem { status } } }";

/// The two-sum package as a zip archive of its folder, with `extra` entries.
fn two_sum_zip(extra: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for file in two_sum_files() {
        out.start_file(
            format!("two-sum/{}", file["path"].as_str().unwrap()),
            options,
        )
        .unwrap();
        out.write_all(file["content"].as_str().unwrap().as_bytes())
            .unwrap();
    }
    for (name, content) in extra {
        out.start_file(*name, options).unwrap();
        out.write_all(content.as_bytes()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// Posts `archive` as a GraphQL multipart request, the way upload clients
/// (apollo-upload-client and friends) do.
async fn upload(app: &TestApp, token: &str, archive: &[u8]) -> Value {
    let boundary = "pydojo-test-boundary-5e1f";
    let operations = json!({ "query": IMPORT_ZIP, "variables": { "f": null } });
    let mut body = Vec::new();
    for (name, value) in [
        ("operations", operations.to_string()),
        ("map", json!({ "0": ["variables.f"] }).to_string()),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"two-sum.zip\"\r\n\
             Content-Type: application/zip\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(archive);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = reqwest::Client::new()
        .post(app.url())
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: {text:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_uploads_a_package_as_a_zip_and_a_hostile_archive_imports_nothing() {
    let Some(app) = spawn().await else { return };
    let admin = app.admin("root").await;

    // An entry reaching outside the package: refused by name, nothing imported.
    let v = upload(&app, &admin, &two_sum_zip(&[("../escape.py", "print(1)")])).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert_eq!(v["errors"][0]["extensions"]["field"], "../escape.py", "{v}");
    assert!(!problem_exists(&app, &admin, "two-sum").await);

    // Not a zip at all.
    let v = upload(&app, &admin, b"PK but not really").await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");

    // A user may not upload.
    let (user, _) = app.register("ada").await;
    let v = upload(&app, &user, &two_sum_zip(&[])).await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");

    let v = upload(&app, &admin, &two_sum_zip(&[])).await;
    assert!(v.get("errors").is_none(), "{v}");
    let import = &v["data"]["importProblemPackageZip"];
    assert_eq!(import["slug"], "two-sum", "{v}");
    assert_eq!(import["outcome"], "CREATED");
    assert_eq!(import["problem"]["status"], "PUBLISHED");
}
