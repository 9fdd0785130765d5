//! Bad input gets a clear coded error, and nothing is half-written.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_coded_errors() {
    let app = TestApp::spawn().await;
    let post = |body: String| {
        app.client
            .post(app.url())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let v = app.gql(None, "{ problems { slug ", json!({})).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "syntax error");
    let v = app.gql(None, "{ noSuchField }", json!({})).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "unknown field");
    let v = app
        .gql(
            None,
            "mutation { register(username: 5, email: \"a@b.org\", password: \"x\") { token } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "wrong type");
    let v = app
        .gql(
            None,
            "query($l: Int!) { problems(limit: $l) { slug } }",
            json!({ "l": "ten" }),
        )
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "wrong variable type");
    let v = app
        .gql(None, "{ problems(limit: 1000) { slug } }", json!({}))
        .await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "page too large");

    let resp = post("this is not json".into()).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(code(&resp.json().await.unwrap()), "BAD_USER_INPUT");

    let huge = json!({ "query": format!("{{ problems {{ slug }} }} #{}", "x".repeat(300 * 1024)) })
        .to_string();
    let resp = post(huge).await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(code(&resp.json().await.unwrap()), "BAD_USER_INPUT");

    // 20 levels deep, past the limit of 12.
    let nested = format!(
        "{{ __schema {{ types {{ fields {{ type {} name {} }} }} }} }}",
        "{ ofType ".repeat(16),
        "}".repeat(16)
    );
    let v = app.gql(None, &nested, json!({})).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "depth limit: {v}");
    let wide = format!(
        "{{ {} }}",
        (0..3000)
            .map(|i| format!("a{i}: problems {{ slug }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let v = app.gql(None, &wide, json!({})).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "complexity limit");

    let resp = app.client.get(app.url()).send().await.unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_username_or_email_leaves_nothing_half_written() {
    let app = TestApp::spawn().await;
    app.register("ada").await;
    let register = "mutation($u: String!, $e: String!) { register(username: $u, email: $e, password: \"correct horse battery\") { user { username } } }";
    // Same name in another case, fresh email: refused...
    let v = app
        .gql(
            None,
            register,
            json!({ "u": "ADA", "e": "fresh@example.org" }),
        )
        .await;
    assert_eq!(code(&v), "CONFLICT");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("username")
    );
    // ...and the fresh email was not reserved by the failed attempt.
    let v = app
        .ok(
            None,
            register,
            json!({ "u": "lovelace", "e": "fresh@example.org" }),
        )
        .await;
    assert_eq!(v["register"]["user"]["username"], "lovelace");
    let v = app
        .gql(
            None,
            register,
            json!({ "u": "newname", "e": "ADA@example.org" }),
        )
        .await;
    assert_eq!(code(&v), "CONFLICT");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("email")
    );
    // The failed attempt did not take "newname" either.
    app.ok(
        None,
        register,
        json!({ "u": "newname", "e": "new@example.org" }),
    )
    .await;

    for (u, e, p) in [
        ("a", "a@example.org", "long enough pw"),
        ("okname", "not-an-email", "long enough pw"),
        ("okname", "ok@example.org", "short"),
    ] {
        let v = app.gql(None, "mutation($u: String!, $e: String!, $p: String!) { register(username: $u, email: $e, password: $p) { token } }", json!({ "u": u, "e": e, "p": p })).await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{u} {e} {p}");
    }
    let admin = app.admin("root").await;
    let v = app
        .ok(
            Some(&admin),
            "{ users(limit: 100) { username } }",
            json!({}),
        )
        .await;
    let names: Vec<&str> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ada", "lovelace", "newname", "root"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_and_bad_tokens_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let (token, user_id) = app.register("ada").await;
    assert_eq!(
        code(&app.login("ada", "not the password").await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        code(&app.login("nobody", "not the password").await),
        "UNAUTHENTICATED"
    );

    let me = "{ me { username } }";
    assert_eq!(code(&app.gql(None, me, json!({})).await), "UNAUTHENTICATED");
    // Tampered: change the payload, keep the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let tampered_payload = parts[1].chars().rev().collect::<String>();
    let tampered = format!("{}.{}.{}", parts[0], tampered_payload, parts[2]);
    // Forged: a well-formed token signed with another secret.
    let secret = std::fs::read(app.dir.path().join("jwt-secret")).unwrap();
    let claims =
        |exp: i64| json!({ "sub": user_id, "epoch": 0, "iss": "pydojo", "iat": 0, "exp": exp });
    let sign = |key: &[u8], exp: i64| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims(exp),
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let forged = sign(b"another secret that is long enough!!", now + 3600);
    // Expired: signed with the real secret, an hour ago.
    let expired = sign(&secret, now - 3600);
    // alg=none
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    for (what, bad) in [
        ("tampered", tampered.as_str()),
        ("forged", &forged),
        ("expired", &expired),
        ("alg none", &none),
        ("garbage", "abc"),
    ] {
        let v = app.gql(Some(bad), me, json!({})).await;
        assert_eq!(code(&v), "UNAUTHENTICATED", "{what}: {v}");
        assert!(v.get("data").is_none() || v["data"].is_null(), "{what}");
    }
    let expired_msg = app.gql(Some(&expired), me, json!({})).await;
    assert!(
        expired_msg["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    // The real secret with a valid expiry works: the checks above were not vacuous.
    let good = sign(&secret, now + 3600);
    assert_eq!(
        app.ok(Some(&good), me, json!({})).await["me"]["username"],
        "ada"
    );
    let resp = app
        .client
        .post(app.url())
        .header("authorization", "Basic abc")
        .json(&json!({ "query": me }))
        .send()
        .await
        .unwrap();
    assert_eq!(code(&resp.json().await.unwrap()), "UNAUTHENTICATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_or_empty_code_is_refused_and_nothing_recorded() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    app.ok(
        Some(&admin),
        CREATE_PROBLEM,
        json!({ "s": "two-sum", "i": problem_input("Two Sum") }),
    )
    .await;
    app.ok(Some(&admin), PUBLISH_PROBLEM, json!({ "s": "two-sum" }))
        .await;
    let (token, _) = app.register("ada").await;
    for code_text in [
        "#".repeat(64 * 1024 + 1),
        "   ".into(),
        "print(1)\u{0}".into(),
    ] {
        let v = app
            .gql(
                Some(&token),
                SUBMIT,
                json!({ "s": "two-sum", "c": code_text }),
            )
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT");
    }
    let v = app
        .ok(Some(&token), "{ mySubmissions { id } }", json!({}))
        .await;
    assert_eq!(v["mySubmissions"], json!([]));
    let v = app
        .ok(
            Some(&token),
            SUBMIT,
            json!({ "s": "two-sum", "c": "#".repeat(64 * 1024) }),
        )
        .await;
    assert_eq!(v["submit"]["status"], "QUEUED", "exactly 64 KiB is allowed");
}
