//! `pydojo serve --demo`: a populated instance from an empty data directory.
//! An admin and two users with passwords generated now and printed once (no
//! built-in credentials anywhere) and the starter problem set, imported and
//! published. On a data directory that already holds users it changes
//! nothing and says so.

use std::path::Path;

use anyhow::Context as _;
use commands::{Commands, Passwords};
use domain::user::Role;

use crate::config::StorageArgs;

/// Who was created, with the passwords to print.
#[derive(Debug)]
pub struct Seeded {
    pub accounts: Vec<(String, Role, String)>,
    pub problems: usize,
}

/// Seeds `storage` with the demo accounts and the packages under `problems`;
/// `None` when the log already has events (a demo seeded before, or a real
/// instance).
pub async fn seed(storage: &StorageArgs, problems: &Path) -> anyhow::Result<Option<Seeded>> {
    let store = crate::open_store(storage).await?;
    if store.head().await? > store::Cursor::START {
        return Ok(None);
    }
    let (packages, errors) = crate::problems::load_all(&[problems.to_path_buf()]);
    if let Some(e) = errors.first() {
        anyhow::bail!(
            "the demo's problem set at {} does not load ({} problem(s)), first: {e}",
            problems.display(),
            errors.len()
        );
    }
    let commands = Commands::new(store, Passwords::new());
    let mut accounts = Vec::new();
    let mut admin = None;
    for (name, role) in [
        ("admin", Role::Admin),
        ("alice", Role::User),
        ("bob", Role::User),
    ] {
        let password = crate::generate_password();
        let done = commands
            .register(
                name,
                &format!("{name}@demo.pydojo.invalid"),
                &password,
                role,
            )
            .await
            .with_context(|| format!("creating the demo account {name}"))?;
        if role == Role::Admin {
            admin = Some(commands::Actor {
                user_id: done.value,
                role,
            });
        }
        accounts.push((name.to_owned(), role, password));
    }
    let admin = admin.expect("the admin is created first");
    for package in &packages {
        crate::problems::import(&commands, &admin, package)
            .await
            .with_context(|| format!("importing {}", package.slug))?;
    }
    Ok(Some(Seeded {
        accounts,
        problems: packages.len(),
    }))
}
