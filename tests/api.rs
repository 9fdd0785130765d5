//! End-to-end: the real app over HTTP, on SQLite and on PostgreSQL.

mod common;

use common::*;
use serde_json::json;

/// Register, log in, `me`; an admin creates and publishes a problem; a user
/// lists problems (no hidden test in any response), submits and lists their
/// submissions.
async fn the_main_flow_works_end_to_end(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |_| {}).await else {
        return;
    };
    let admin = app.admin("root").await;

    let (_, ada_id) = app.register("ada").await;
    let login = app.login("ada", "correct horse battery").await;
    let token = login["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = app
        .ok(
            Some(&token),
            "{ me { id username email role active } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["me"],
        json!({ "id": ada_id, "username": "ada", "email": "ada@example.org", "role": "USER", "active": true })
    );
    // Logging in by email works too.
    assert!(
        app.login("ADA@example.org", "correct horse battery").await["data"]["login"]["token"]
            .is_string()
    );

    let created = app
        .ok(
            Some(&admin),
            CREATE_PROBLEM,
            json!({ "s": "two-sum", "i": problem_input("Two Sum") }),
        )
        .await;
    assert_eq!(
        created["createProblem"],
        json!({ "slug": "two-sum", "status": "DRAFT", "version": 1 })
    );
    // Drafts are invisible to users, and cannot be submitted to.
    let listed = app
        .ok(Some(&token), "{ problems { slug } }", json!({}))
        .await;
    assert_eq!(listed["problems"], json!([]));
    let v = app
        .gql(
            Some(&token),
            SUBMIT,
            json!({ "s": "two-sum", "c": "def two_sum(n, t): pass" }),
        )
        .await;
    assert_eq!(code(&v), "NOT_FOUND");

    let published = app
        .ok(Some(&admin), PUBLISH_PROBLEM, json!({ "s": "two-sum" }))
        .await;
    assert_eq!(published["publishProblem"]["status"], "PUBLISHED");

    let everything = "{ problems { id slug title statement difficulty tags kind entryPoint params template \
        examples { input expected explanation } timeLimitMs memoryLimitMb checker { kind absTol relTol } status version } }";
    let v = app.gql(Some(&token), everything, json!({})).await;
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(v["data"]["problems"][0]["slug"], "two-sum");
    assert_eq!(
        v["data"]["problems"][0]["examples"][0]["input"],
        "[[2, 7, 11, 15], 9]"
    );
    let anonymous = app
        .gql(
            None,
            &everything.replace("problems", "problem(slug: \"two-sum\")"),
            json!({}),
        )
        .await;
    for response in [&v, &anonymous] {
        let text = response.to_string();
        assert!(
            !text.contains(HIDDEN_MARKER) && !text.contains("[[3, 3], 6]"),
            "hidden tests leaked: {text}"
        );
    }
    // Asking for them outright is refused.
    let v = app
        .gql(
            Some(&token),
            "{ problem(slug: \"two-sum\") { hiddenTests { input } } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&v), "FORBIDDEN");
    assert!(!v.to_string().contains(HIDDEN_MARKER));
    // Admins see them.
    let v = app
        .ok(
            Some(&admin),
            "{ problem(slug: \"two-sum\") { hiddenTests { explanation } } }",
            json!({}),
        )
        .await;
    assert_eq!(v["problem"]["hiddenTests"][0]["explanation"], HIDDEN_MARKER);

    let code_text = "def two_sum(nums, target):\n    seen = {}\n    for i, n in enumerate(nums):\n        if target - n in seen:\n            return [seen[target - n], i]\n        seen[n] = i\n";
    let submitted = app
        .ok(
            Some(&token),
            SUBMIT,
            json!({ "s": "two-sum", "c": code_text }),
        )
        .await;
    assert_eq!(submitted["submit"]["status"], "QUEUED");
    assert_eq!(submitted["submit"]["problemVersion"], 1);
    let id = submitted["submit"]["id"].as_str().unwrap();

    let mine = app
        .ok(
            Some(&token),
            "{ mySubmissions { id problemSlug code status } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine["mySubmissions"],
        json!([{ "id": id, "problemSlug": "two-sum", "code": code_text, "status": "QUEUED" }])
    );
    // Nobody else sees it.
    let (bob, _) = app.register("bob").await;
    let v = app
        .ok(
            Some(&bob),
            "query($id: ID!) { submission(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(v["submission"], json!(null));
    let v = app
        .ok(Some(&bob), "{ mySubmissions { id } }", json!({}))
        .await;
    assert_eq!(v["mySubmissions"], json!([]));
    // Email addresses are private.
    let v = app
        .ok(
            Some(&bob),
            "{ user(username: \"ada\") { username email } }",
            json!({}),
        )
        .await;
    assert_eq!(v["user"], json!({ "username": "ada", "email": null }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_flow_works_end_to_end_on_sqlite() {
    the_main_flow_works_end_to_end(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_flow_works_end_to_end_on_postgres() {
    the_main_flow_works_end_to_end(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_edit_archive_and_republish_problems_and_users_cannot() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let (user, _) = app.register("eve").await;
    let v = app
        .gql(
            Some(&user),
            CREATE_PROBLEM,
            json!({ "s": "two-sum", "i": problem_input("Two Sum") }),
        )
        .await;
    assert_eq!(code(&v), "FORBIDDEN");
    let v = app
        .gql(
            None,
            CREATE_PROBLEM,
            json!({ "s": "two-sum", "i": problem_input("Two Sum") }),
        )
        .await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
    let v = app
        .gql(
            Some(&user),
            "{ problems(includeUnpublished: true) { slug } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&v), "FORBIDDEN");

    app.ok(
        Some(&admin),
        CREATE_PROBLEM,
        json!({ "s": "two-sum", "i": problem_input("Two Sum") }),
    )
    .await;
    let v = app
        .gql(
            Some(&admin),
            CREATE_PROBLEM,
            json!({ "s": "two-sum", "i": problem_input("Again") }),
        )
        .await;
    assert_eq!(code(&v), "CONFLICT", "slugs are unique");
    let edited = app
        .ok(Some(&admin), "mutation($s: String!, $i: ProblemInput!) { updateProblem(slug: $s, input: $i) { title version } }", json!({ "s": "two-sum", "i": problem_input("Two Sum, Revisited") }))
        .await;
    assert_eq!(
        edited["updateProblem"],
        json!({ "title": "Two Sum, Revisited", "version": 2 })
    );
    app.ok(Some(&admin), PUBLISH_PROBLEM, json!({ "s": "two-sum" }))
        .await;
    let v = app
        .ok(Some(&user), SUBMIT, json!({ "s": "two-sum", "c": "pass" }))
        .await;
    assert_eq!(
        v["submit"]["problemVersion"], 2,
        "a submission records the version it was made against"
    );

    let archived = app
        .ok(
            Some(&admin),
            "mutation { archiveProblem(slug: \"two-sum\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(archived["archiveProblem"]["status"], "ARCHIVED");
    assert_eq!(
        app.ok(Some(&user), "{ problems { slug } }", json!({}))
            .await["problems"],
        json!([])
    );
    assert_eq!(
        app.ok(
            Some(&user),
            "{ problem(slug: \"two-sum\") { slug } }",
            json!({})
        )
        .await["problem"],
        json!(null)
    );
    let v = app
        .gql(Some(&user), SUBMIT, json!({ "s": "two-sum", "c": "pass" }))
        .await;
    assert_eq!(code(&v), "NOT_FOUND");
    let v = app
        .gql(
            Some(&admin),
            "mutation { archiveProblem(slug: \"two-sum\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&v), "CONFLICT");
    app.ok(Some(&admin), PUBLISH_PROBLEM, json!({ "s": "two-sum" }))
        .await;
    assert_eq!(
        app.ok(
            Some(&user),
            "{ problems(difficulty: EASY, tag: \"hash-map\") { slug } }",
            json!({})
        )
        .await["problems"],
        json!([{ "slug": "two-sum" }])
    );
    assert_eq!(
        app.ok(
            Some(&user),
            "{ problems(difficulty: HARD) { slug } }",
            json!({})
        )
        .await["problems"],
        json!([])
    );

    // A spec the domain rejects names the field.
    let mut bad = problem_input("Bad");
    bad["timeLimitMs"] = json!(5);
    let v = app
        .gql(
            Some(&admin),
            CREATE_PROBLEM,
            json!({ "s": "bad-one", "i": bad }),
        )
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT");
    assert_eq!(v["errors"][0]["extensions"]["field"], "timeLimitMs");
    assert_eq!(
        app.ok(
            Some(&admin),
            "{ problem(slug: \"bad-one\") { slug } }",
            json!({})
        )
        .await["problem"],
        json!(null)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivated_users_cannot_log_in_and_their_old_tokens_stop_working() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let (token, _) = app.register("mallory").await;
    let (user_token, _) = app.register("ursula").await;
    assert!(
        app.ok(Some(&token), "{ me { username } }", json!({})).await["me"]["username"] == "mallory"
    );

    let v = app
        .gql(
            Some(&user_token),
            "mutation { deactivateUser(username: \"mallory\") { active } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&v), "FORBIDDEN", "only admins deactivate");
    let v = app.ok(Some(&admin), "mutation { deactivateUser(username: \"mallory\", reason: \"spam\") { username active } }", json!({})).await;
    assert_eq!(
        v["deactivateUser"],
        json!({ "username": "mallory", "active": false })
    );

    let v = app
        .gql(Some(&token), "{ me { username } }", json!({}))
        .await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
    let v = app.login("mallory", "correct horse battery").await;
    assert_eq!(code(&v), "FORBIDDEN");
    // A wrong password does not reveal that the account exists but is deactivated.
    assert_eq!(
        code(&app.login("mallory", "wrong password 1").await),
        "UNAUTHENTICATED"
    );

    app.ok(
        Some(&admin),
        "mutation { reactivateUser(username: \"mallory\") { active } }",
        json!({}),
    )
    .await;
    let v = app
        .gql(Some(&token), "{ me { username } }", json!({}))
        .await;
    assert_eq!(
        code(&v),
        "UNAUTHENTICATED",
        "tokens issued before deactivation stay dead"
    );
    let v = app.login("mallory", "correct horse battery").await;
    let fresh = v["data"]["login"]["token"].as_str().unwrap();
    assert_eq!(
        app.ok(Some(fresh), "{ me { active } }", json!({})).await["me"]["active"],
        true
    );

    let v = app
        .gql(
            Some(&admin),
            "mutation { deactivateUser(username: \"root\") { active } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&v), "CONFLICT", "admins cannot lock themselves out");
    let v = app
        .gql(
            Some(&admin),
            "mutation { deactivateUser(username: \"nobody\") { active } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&v), "NOT_FOUND");

    let v = app
        .ok(
            Some(&admin),
            "mutation { setUserRole(username: \"ursula\", role: REVIEWER) { role } }",
            json!({}),
        )
        .await;
    assert_eq!(v["setUserRole"]["role"], "REVIEWER");
    let v = app
        .ok(
            Some(&admin),
            "{ users { username role active } }",
            json!({}),
        )
        .await;
    assert_eq!(v["users"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_and_password_changes() {
    let app = TestApp::spawn().await;
    let (token, _) = app.register("grace").await;
    let v = app.ok(Some(&token), "mutation { updateProfile(displayName: \" Grace H. \", bio: \"Compilers.\") { displayName bio } }", json!({})).await;
    assert_eq!(
        v["updateProfile"],
        json!({ "displayName": "Grace H.", "bio": "Compilers." })
    );
    let v = app
        .gql(
            Some(&token),
            "mutation($d: String!) { updateProfile(displayName: $d) { displayName } }",
            json!({ "d": "x".repeat(65) }),
        )
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT");

    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { token } }";
    let v = app
        .gql(
            Some(&token),
            change,
            json!({ "c": "not my password", "n": "a brand new password" }),
        )
        .await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
    let v = app
        .gql(
            Some(&token),
            change,
            json!({ "c": "correct horse battery", "n": "short" }),
        )
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT");
    let v = app
        .ok(
            Some(&token),
            change,
            json!({ "c": "correct horse battery", "n": "a brand new password" }),
        )
        .await;
    let new_token = v["changePassword"]["token"].as_str().unwrap();
    assert_eq!(
        code(
            &app.gql(Some(&token), "{ me { username } }", json!({}))
                .await
        ),
        "UNAUTHENTICATED",
        "old sessions end"
    );
    assert_eq!(
        app.ok(Some(new_token), "{ me { username } }", json!({}))
            .await["me"]["username"],
        "grace"
    );
    assert_eq!(
        code(&app.login("grace", "correct horse battery").await),
        "UNAUTHENTICATED"
    );
    assert!(app.login("grace", "a brand new password").await["data"]["login"]["token"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_and_submissions_are_rate_limited() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |a| {
        a.auth_rate_per_minute = 3;
        a.submit_rate_per_minute = 2;
    })
    .await
    else {
        return;
    };
    let (token, _) = app.register("hopper").await; // 1
    assert_eq!(
        code(&app.login("hopper", "wrong password 1").await),
        "UNAUTHENTICATED"
    ); // 2
    assert_eq!(
        code(&app.login("hopper", "wrong password 2").await),
        "UNAUTHENTICATED"
    ); // 3
    let v = app.login("hopper", "correct horse battery").await;
    assert_eq!(code(&v), "RATE_LIMITED");

    let admin_password = "admin password 123";
    pydojo::create_admin(
        &app.storage,
        "root",
        "root@example.org",
        Some(admin_password.into()),
    )
    .await
    .unwrap();
    // The auth limit is per address and already spent: submissions have their own.
    for _ in 0..2 {
        let v = app
            .gql(Some(&token), SUBMIT, json!({ "s": "nope", "c": "pass" }))
            .await;
        assert_eq!(code(&v), "NOT_FOUND");
    }
    let v = app
        .gql(Some(&token), SUBMIT, json!({ "s": "nope", "c": "pass" }))
        .await;
    assert_eq!(code(&v), "RATE_LIMITED");
}
