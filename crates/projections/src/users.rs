//! `users`: one row per user. No password hash ever reaches the read side.

use domain::Event;
use domain::user::UserEvent;
use futures::future::BoxFuture;
use sqlx::AnyConnection;

use crate::batch::{V, insert};
use crate::{Envelope, Projection, Result, micros};

#[derive(Debug)]
pub struct Users;

impl Projection for Users {
    fn name(&self) -> &'static str {
        "users"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["users"]
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Event::User(event) = &envelope.event else {
                return Ok(());
            };
            match event {
                UserEvent::UserRegistered {
                    user_id,
                    username,
                    email,
                    role,
                    at,
                    ..
                } => {
                    sqlx::query(
                        "INSERT INTO users (user_id, username, username_key, email, role, active, session_epoch, \
                         display_name, bio, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, 0, '', '', $6, $6) \
                         ON CONFLICT (user_id) DO NOTHING",
                    )
                    .bind(user_id.to_string())
                    .bind(username)
                    .bind(domain::user::normalize_key(username))
                    .bind(email)
                    .bind(role.as_str())
                    .bind(micros(*at))
                    .execute(conn)
                    .await?;
                }
                UserEvent::UserProfileUpdated {
                    user_id,
                    display_name,
                    bio,
                    at,
                } => {
                    sqlx::query("UPDATE users SET display_name = $2, bio = $3, updated_at = $4 WHERE user_id = $1")
                        .bind(user_id.to_string())
                        .bind(display_name)
                        .bind(bio)
                        .bind(micros(*at))
                        .execute(conn)
                        .await?;
                }
                UserEvent::UserPasswordChanged {
                    user_id,
                    session_epoch,
                    at,
                    ..
                } => {
                    sqlx::query(
                        "UPDATE users SET session_epoch = $2, updated_at = $3 WHERE user_id = $1",
                    )
                    .bind(user_id.to_string())
                    .bind(*session_epoch as i64)
                    .bind(micros(*at))
                    .execute(conn)
                    .await?;
                }
                UserEvent::UserRoleChanged {
                    user_id, role, at, ..
                } => {
                    sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE user_id = $1")
                        .bind(user_id.to_string())
                        .bind(role.as_str())
                        .bind(micros(*at))
                        .execute(conn)
                        .await?;
                }
                UserEvent::UserDeactivated {
                    user_id,
                    reason,
                    session_epoch,
                    at,
                    ..
                } => {
                    sqlx::query(
                        "UPDATE users SET active = 0, deactivation_reason = $2, session_epoch = $3, updated_at = $4 WHERE user_id = $1",
                    )
                    .bind(user_id.to_string())
                    .bind(reason)
                    .bind(*session_epoch as i64)
                    .bind(micros(*at))
                    .execute(conn)
                    .await?;
                }
                UserEvent::UserReactivated { user_id, at, .. } => {
                    sqlx::query("UPDATE users SET active = 1, deactivation_reason = NULL, updated_at = $2 WHERE user_id = $1")
                        .bind(user_id.to_string())
                        .bind(micros(*at))
                        .execute(conn)
                        .await?;
                }
            }
            Ok(())
        })
    }

    /// Registrations, most of a replay's user events, go in by the
    /// thousand; every other event is applied on its own, in order.
    fn apply_batch<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        events: &'a [Envelope],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut registered: Vec<Vec<V>> = vec![];
            for envelope in events {
                if let Event::User(UserEvent::UserRegistered {
                    user_id,
                    username,
                    email,
                    role,
                    at,
                    ..
                }) = &envelope.event
                {
                    registered.push(vec![
                        user_id.to_string().into(),
                        username.into(),
                        domain::user::normalize_key(username).into(),
                        email.into(),
                        role.as_str().into(),
                        1.into(),
                        0.into(),
                        "".into(),
                        "".into(),
                        micros(*at).into(),
                        micros(*at).into(),
                    ]);
                    continue;
                }
                if !matches!(envelope.event, Event::User(_)) {
                    continue;
                }
                register(conn, &mut registered).await?;
                self.apply(conn, envelope).await?;
            }
            register(conn, &mut registered).await
        })
    }
}

/// Inserts the registrations gathered so far, as `apply` would one by one.
async fn register(conn: &mut AnyConnection, rows: &mut Vec<Vec<V>>) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    insert(
        conn,
        "INSERT INTO users (user_id, username, username_key, email, role, active, session_epoch, \
         display_name, bio, created_at, updated_at)",
        "ON CONFLICT (user_id) DO NOTHING",
        rows,
    )
    .await?;
    rows.clear();
    Ok(())
}
