//! The forum's handlers against a real SQLite event log: they check the
//! author's account, ownership and the admin role from the log, and leave
//! nothing behind when they refuse.

use std::sync::Arc;

use commands::{Actor, Commands, Error, Passwords};
use domain::DomainError;
use domain::forum::Vote;
use domain::problem::{Checker, Difficulty, Limits, ProblemKind, ProblemSpec, TestCase};
use domain::user::Role;
use store::{Cursor, SharedStore};

fn spec() -> ProblemSpec {
    ProblemSpec {
        title: "Echo".into(),
        statement: "Print the input.".into(),
        difficulty: Difficulty::Easy,
        tags: vec![],
        kind: ProblemKind::StdIo,
        template: String::new(),
        examples: vec![],
        hidden_tests: vec![TestCase {
            input: "1".into(),
            expected: "1".into(),
            explanation: None,
        }],
        limits: Limits::default(),
        checker: Checker::Exact,
        hints: Vec::new(),
    }
}

struct World {
    commands: Commands,
    store: SharedStore,
    admin: Actor,
    ada: Actor,
    bob: Actor,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(
        store::SqliteStore::open(&dir.path().join("events.db"), Default::default())
            .await
            .unwrap(),
    );
    let commands = Commands::new(store.clone(), Passwords::new());
    let actor = async |name: &str, role: Role| Actor {
        user_id: commands
            .register(
                name,
                &format!("{name}@example.org"),
                "correct horse battery",
                role,
            )
            .await
            .unwrap()
            .value,
        role,
    };
    let admin = actor("root", Role::Admin).await;
    let ada = actor("ada", Role::User).await;
    let bob = actor("bob", Role::User).await;
    commands
        .create_problem(&admin, "echo", spec())
        .await
        .unwrap();
    commands.publish_problem(&admin, "echo").await.unwrap();
    commands
        .create_problem(&admin, "draft", spec())
        .await
        .unwrap();
    World {
        commands,
        store,
        admin,
        ada,
        bob,
        _dir: dir,
    }
}

async fn events(store: &SharedStore) -> usize {
    store.read_all(Cursor::START, 10_000).await.unwrap().len()
}

#[tokio::test]
async fn a_deactivated_user_can_neither_post_nor_vote_and_nothing_is_written() {
    let w = world().await;
    let c = &w.commands;
    let id = c
        .post_comment(&w.bob, "echo", None, "hello", false)
        .await
        .unwrap()
        .value;
    c.deactivate_user(&w.admin, "ada", "spam").await.unwrap();
    let before = events(&w.store).await;
    // Even with a role the token still claims, the log decides.
    assert!(matches!(
        c.post_comment(&w.ada, "echo", None, "still here", false)
            .await,
        Err(Error::Deactivated)
    ));
    assert!(matches!(
        c.post_comment(&w.ada, "echo", Some(id), "a reply", false)
            .await,
        Err(Error::Deactivated)
    ));
    assert!(matches!(
        c.vote_comment(&w.ada, id, Vote::Up).await,
        Err(Error::Deactivated)
    ));
    assert_eq!(events(&w.store).await, before);

    c.reactivate_user(&w.admin, "ada").await.unwrap();
    c.post_comment(&w.ada, "echo", Some(id), "back", false)
        .await
        .unwrap();
}

#[tokio::test]
async fn comments_need_a_published_problem_and_a_live_parent_on_it() {
    let w = world().await;
    let c = &w.commands;
    for slug in ["nope", "draft"] {
        assert!(matches!(
            c.post_comment(&w.ada, slug, None, "hi", false).await,
            Err(Error::Domain(DomainError::NotFound("problem")))
        ));
    }
    let root = c
        .post_comment(&w.ada, "echo", None, "root", false)
        .await
        .unwrap()
        .value;
    let reply = c
        .post_comment(&w.bob, "echo", Some(root), "reply", false)
        .await
        .unwrap()
        .value;
    assert!(matches!(
        c.post_comment(&w.bob, "echo", Some(domain::CommentId::new()), "x", false)
            .await,
        Err(Error::Domain(DomainError::NotFound("parent comment")))
    ));
    c.delete_comment(&w.bob, reply).await.unwrap();
    assert!(matches!(
        c.post_comment(&w.ada, "echo", Some(reply), "x", false)
            .await,
        Err(Error::Domain(DomainError::InvalidState(_)))
    ));
}

#[tokio::test]
async fn only_authors_edit_or_delete_and_only_admins_hide() {
    let w = world().await;
    let c = &w.commands;
    let id = c
        .post_comment(&w.ada, "echo", None, "mine", false)
        .await
        .unwrap()
        .value;
    assert!(matches!(
        c.edit_comment(&w.bob, id, "yours", false).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        c.delete_comment(&w.admin, id).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        c.hide_comment(&w.bob, id, "I dislike it").await,
        Err(Error::Forbidden(_))
    ));
    c.edit_comment(&w.ada, id, "still mine", true)
        .await
        .unwrap();
    c.hide_comment(&w.admin, id, "off topic").await.unwrap();
    c.unhide_comment(&w.admin, id).await.unwrap();
    c.delete_comment(&w.ada, id).await.unwrap();
}
