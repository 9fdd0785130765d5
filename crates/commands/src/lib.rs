//! The write side: command handlers that load an aggregate from its stream,
//! let the domain decide, and append the result with an expected version.
//!
//! Depends on `domain` and `store`; never on `projections`. Handlers read
//! only the log (streams), never a read model, so every decision is made on
//! consistent state. What the domain needs from outside (the clock, password
//! hashes, facts about another aggregate) is fetched here and put into the
//! command.
//!
//! Key decision: an optimistic-concurrency conflict is retried a few times by
//! reloading and deciding again; only a conflict that keeps happening, or a
//! unique key that is taken, reaches the caller.

mod error;
mod forum;
mod passwords;
mod rejudge;
mod tutor;

use std::sync::Arc;

use chrono::Utc;
use domain::codec::{self, Event};
use domain::problem::{Problem, ProblemCommand, ProblemSpec, ProblemState};
use domain::reservation::{self, ReservationEvent, ReservationKind};
use domain::submission::{ProblemFacts, Submission, SubmissionCommand};
use domain::user::{self, Role, User, UserCommand, UserState};
use domain::{Aggregate, DomainError, ProblemId, RejudgeId, SubmissionId, UserId};
use serde_json::json;
use store::{AppendRequest, Cursor, ExpectedVersion, NewEvent, SharedStore};
use uuid::Uuid;

pub use error::{Error, Result};
pub use passwords::Passwords;
pub use rejudge::RejudgeStarted;
pub use tutor::{AskTutor, Asked, TutorAnswer, TutorFailure, TutorOutcome};

/// Who is asking, as established by authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub role: Role,
}

impl Actor {
    fn require_admin(&self) -> Result<()> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(Error::Forbidden("only admins may do this"))
        }
    }
}

/// A command's result and the log position to wait for to read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done<T> {
    pub value: T,
    pub cursor: Cursor,
}

const RETRIES: usize = 3;

pub fn user_stream(id: UserId) -> String {
    format!("user-{id}")
}
pub fn problem_stream(id: ProblemId) -> String {
    format!("problem-{id}")
}
pub fn submission_stream(id: SubmissionId) -> String {
    format!("submission-{id}")
}
pub fn rejudge_stream(id: RejudgeId) -> String {
    format!("rejudge-{id}")
}

#[derive(Debug, Clone)]
pub struct Commands {
    store: SharedStore,
    passwords: Arc<Passwords>,
}

impl Commands {
    pub fn new(store: SharedStore, passwords: Passwords) -> Self {
        Self {
            store,
            passwords: Arc::new(passwords),
        }
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Folds a stream into its aggregate; returns the state and stream version.
    async fn load<A>(&self, stream: &str) -> Result<(A, u64)>
    where
        A: Aggregate,
        A::Event: TryFrom<Event>,
    {
        let (state, version, _) = self.load_at::<A>(stream).await?;
        Ok((state, version))
    }

    /// Like `load`, with the cursor of the stream's last event.
    async fn load_at<A>(&self, stream: &str) -> Result<(A, u64, Cursor)>
    where
        A: Aggregate,
        A::Event: TryFrom<Event>,
    {
        let recorded = self.store.read_stream(stream, 1).await?;
        let mut state = A::default();
        let (mut version, mut cursor) = (0, Cursor::START);
        for r in recorded {
            let event = codec::decode(&r.event_type, r.schema_version, r.data)?;
            let event = A::Event::try_from(event).map_err(|_| {
                Error::Corrupt(format!("stream {stream} holds a {} event", r.event_type))
            })?;
            state = state.evolve(&event);
            (version, cursor) = (r.version, r.cursor);
        }
        Ok((state, version, cursor))
    }

    /// Load, decide, append; on a version conflict, again from the new state.
    async fn execute<A>(
        &self,
        stream: &str,
        actor: Option<&Actor>,
        command: impl Fn(&A) -> A::Command,
    ) -> Result<Done<Vec<A::Event>>>
    where
        A: Aggregate,
        A::Event: TryFrom<Event> + Into<Event> + Clone,
    {
        let mut attempt = 0;
        loop {
            let (state, version) = self.load::<A>(stream).await?;
            let events = state.decide(command(&state))?;
            if events.is_empty() {
                let cursor = Cursor::START;
                return Ok(Done {
                    value: events,
                    cursor,
                });
            }
            let new = events
                .iter()
                .cloned()
                .map(|e| new_event(e.into(), actor))
                .collect();
            match self
                .store
                .append(stream, ExpectedVersion::Exact(version), new)
                .await
            {
                Ok(appended) => {
                    return Ok(Done {
                        value: events,
                        cursor: appended.last,
                    });
                }
                Err(store::Error::Conflict { .. }) if attempt < RETRIES => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Who owns a unique key, according to its reservation stream.
    async fn owner(&self, kind: ReservationKind, key: &str) -> Result<Option<Uuid>> {
        let events = self
            .store
            .read_stream(&reservation::stream(kind, key), 1)
            .await?;
        let Some(first) = events.into_iter().next() else {
            return Ok(None);
        };
        match codec::decode(&first.event_type, first.schema_version, first.data)? {
            Event::Reservation(ReservationEvent::KeyReserved { owner, .. }) => Ok(Some(owner)),
            other => Err(Error::Corrupt(format!(
                "reservation stream holds {other:?}"
            ))),
        }
    }

    /// Registers a user: the username and email reservations and the user's
    /// first event are one atomic append, so a taken name leaves no trace.
    #[tracing::instrument(skip(self, password, email), fields(user_id))]
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
        role: Role,
    ) -> Result<Done<UserId>> {
        let username = username.trim();
        let email = email.trim();
        user::validate_username(username)?;
        user::validate_email(email)?;
        user::validate_password(password)?;
        let password_hash = self.passwords.hash(password).await?;
        let user_id = UserId::new();
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        let at = Utc::now();
        let events = User::default().decide(UserCommand::Register {
            user_id,
            username: username.to_string(),
            email: email.to_string(),
            password_hash,
            role,
            at,
        })?;
        let reserve = |kind: ReservationKind, key: &str| AppendRequest {
            stream: reservation::stream(kind, &user::normalize_key(key)),
            expected: ExpectedVersion::NoStream,
            events: vec![new_event(
                ReservationEvent::KeyReserved {
                    kind,
                    key: user::normalize_key(key),
                    owner: user_id.0,
                    at,
                }
                .into(),
                None,
            )],
        };
        let requests = vec![
            reserve(ReservationKind::Username, username),
            reserve(ReservationKind::Email, email),
            AppendRequest {
                stream: user_stream(user_id),
                expected: ExpectedVersion::NoStream,
                events: events
                    .into_iter()
                    .map(|e| new_event(e.into(), None))
                    .collect(),
            },
        ];
        match self.store.append_many(requests).await {
            Ok(appended) => Ok(Done {
                value: user_id,
                cursor: appended.last,
            }),
            Err(store::Error::Conflict { stream, .. })
                if stream.starts_with("reservation-username-") =>
            {
                Err(DomainError::AlreadyExists("username").into())
            }
            Err(store::Error::Conflict { stream, .. })
                if stream.starts_with("reservation-email-") =>
            {
                Err(DomainError::AlreadyExists("email").into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a username (or email) and password. Unknown names cost the same
    /// hashing time as wrong passwords, so timing does not reveal who exists.
    /// The cursor is that of the user's last event, to read the user back.
    #[tracing::instrument(skip(self, password))]
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Done<UserState>> {
        let key = user::normalize_key(login);
        let kind = if key.contains('@') {
            ReservationKind::Email
        } else {
            ReservationKind::Username
        };
        let (state, cursor) = match self.owner(kind, &key).await? {
            Some(owner) => {
                let (user, _, cursor) = self.load_at::<User>(&user_stream(UserId(owner))).await?;
                (user.0, cursor)
            }
            None => (None, Cursor::START),
        };
        let Some(state) = state else {
            self.passwords.burn(password).await;
            return Err(Error::InvalidCredentials);
        };
        if !self.passwords.verify(password, &state.password_hash).await {
            return Err(Error::InvalidCredentials);
        }
        if !state.active {
            return Err(Error::Deactivated);
        }
        Ok(Done {
            value: state,
            cursor,
        })
    }

    pub async fn update_profile(
        &self,
        actor: &Actor,
        display_name: &str,
        bio: &str,
    ) -> Result<Done<()>> {
        let at = Utc::now();
        let done = self
            .execute::<User>(&user_stream(actor.user_id), Some(actor), |_| {
                UserCommand::UpdateProfile {
                    display_name: display_name.to_string(),
                    bio: bio.to_string(),
                    at,
                }
            })
            .await?;
        Ok(Done {
            value: (),
            cursor: done.cursor,
        })
    }

    /// Changes the caller's password after checking the current one. Every
    /// session issued before ends.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &str,
    ) -> Result<Done<()>> {
        user::validate_password(new)?;
        let (state, _) = self.load::<User>(&user_stream(actor.user_id)).await?;
        let state = state.0.ok_or(DomainError::NotFound("user"))?;
        if !self.passwords.verify(current, &state.password_hash).await {
            return Err(Error::InvalidCredentials);
        }
        let password_hash = self.passwords.hash(new).await?;
        let at = Utc::now();
        let done = self
            .execute::<User>(&user_stream(actor.user_id), Some(actor), |_| {
                UserCommand::ChangePassword {
                    password_hash: password_hash.clone(),
                    at,
                }
            })
            .await?;
        Ok(Done {
            value: (),
            cursor: done.cursor,
        })
    }

    async fn user_id_of(&self, username: &str) -> Result<UserId> {
        let owner = self
            .owner(ReservationKind::Username, &user::normalize_key(username))
            .await?;
        owner
            .map(UserId)
            .ok_or(Error::Domain(DomainError::NotFound("user")))
    }

    /// Admins only: runs `command` (given the time) on the user named `username`.
    async fn admin_user_command(
        &self,
        actor: &Actor,
        username: &str,
        command: impl Fn(chrono::DateTime<Utc>) -> UserCommand,
    ) -> Result<Done<UserId>> {
        actor.require_admin()?;
        let id = self.user_id_of(username).await?;
        let at = Utc::now();
        let done = self
            .execute::<User>(&user_stream(id), Some(actor), |_| command(at))
            .await?;
        Ok(Done {
            value: id,
            cursor: done.cursor,
        })
    }

    /// Admins only. The user cannot log in, and their tokens stop working.
    #[tracing::instrument(skip(self, actor, reason), fields(by = %actor.user_id))]
    pub async fn deactivate_user(
        &self,
        actor: &Actor,
        username: &str,
        reason: &str,
    ) -> Result<Done<UserId>> {
        self.admin_user_command(actor, username, |at| UserCommand::Deactivate {
            by: actor.user_id,
            reason: reason.to_string(),
            at,
        })
        .await
    }

    /// Admins only. Sessions from before the deactivation stay ended.
    #[tracing::instrument(skip(self, actor), fields(by = %actor.user_id))]
    pub async fn reactivate_user(&self, actor: &Actor, username: &str) -> Result<Done<UserId>> {
        self.admin_user_command(actor, username, |at| UserCommand::Reactivate {
            by: actor.user_id,
            at,
        })
        .await
    }

    /// Admins only.
    #[tracing::instrument(skip(self, actor), fields(by = %actor.user_id))]
    pub async fn set_role(
        &self,
        actor: &Actor,
        username: &str,
        role: Role,
    ) -> Result<Done<UserId>> {
        self.admin_user_command(actor, username, |at| UserCommand::ChangeRole {
            role,
            by: actor.user_id,
            at,
        })
        .await
    }

    async fn problem_id_of(&self, slug: &str) -> Result<Option<ProblemId>> {
        Ok(self
            .owner(ReservationKind::ProblemSlug, slug)
            .await?
            .map(ProblemId))
    }

    /// The acting identity of the admin named `username`, for commands run
    /// from the command line (`pydojo problems import --admin NAME`).
    /// NotFound if there is no such user, Forbidden if they are not an
    /// active admin.
    pub async fn admin_actor(&self, username: &str) -> Result<Actor> {
        let id = self.user_id_of(username).await?;
        let (user, _) = self.load::<User>(&user_stream(id)).await?;
        match user.0 {
            Some(state) if state.active && state.role == Role::Admin => Ok(Actor {
                user_id: id,
                role: state.role,
            }),
            Some(_) => Err(Error::Forbidden("not an active admin")),
            None => Err(Error::Domain(DomainError::NotFound("user"))),
        }
    }

    /// A problem as the log has it now, by slug.
    pub async fn problem_by_slug(&self, slug: &str) -> Result<Option<ProblemState>> {
        let Some(id) = self.problem_id_of(slug).await? else {
            return Ok(None);
        };
        let (problem, _) = self.load::<Problem>(&problem_stream(id)).await?;
        Ok(problem.0)
    }

    /// Admins only. The slug reservation and the problem's first event are one
    /// atomic append.
    #[tracing::instrument(skip(self, actor, spec), fields(by = %actor.user_id))]
    pub async fn create_problem(
        &self,
        actor: &Actor,
        slug: &str,
        spec: ProblemSpec,
    ) -> Result<Done<ProblemId>> {
        actor.require_admin()?;
        let problem_id = ProblemId::new();
        let at = Utc::now();
        let events = Problem::default().decide(ProblemCommand::Create {
            problem_id,
            slug: slug.to_string(),
            spec,
            by: actor.user_id,
            at,
        })?;
        let requests = vec![
            AppendRequest {
                stream: reservation::stream(ReservationKind::ProblemSlug, slug),
                expected: ExpectedVersion::NoStream,
                events: vec![new_event(
                    ReservationEvent::KeyReserved {
                        kind: ReservationKind::ProblemSlug,
                        key: slug.to_string(),
                        owner: problem_id.0,
                        at,
                    }
                    .into(),
                    Some(actor),
                )],
            },
            AppendRequest {
                stream: problem_stream(problem_id),
                expected: ExpectedVersion::NoStream,
                events: events
                    .into_iter()
                    .map(|e| new_event(e.into(), Some(actor)))
                    .collect(),
            },
        ];
        match self.store.append_many(requests).await {
            Ok(appended) => Ok(Done {
                value: problem_id,
                cursor: appended.last,
            }),
            Err(store::Error::Conflict { stream, .. }) if stream.starts_with("reservation-") => {
                Err(DomainError::AlreadyExists("problem slug").into())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn problem_command(
        &self,
        actor: &Actor,
        slug: &str,
        command: impl Fn() -> ProblemCommand,
    ) -> Result<Done<u32>> {
        actor.require_admin()?;
        let id = self
            .problem_id_of(slug)
            .await?
            .ok_or(DomainError::NotFound("problem"))?;
        let done = self
            .execute::<Problem>(&problem_stream(id), Some(actor), |_| command())
            .await?;
        let (state, _) = self.load::<Problem>(&problem_stream(id)).await?;
        Ok(Done {
            value: state.0.map_or(0, |s| s.version),
            cursor: done.cursor,
        })
    }

    /// Admins only. Returns the problem's version after the edit.
    pub async fn edit_problem(
        &self,
        actor: &Actor,
        slug: &str,
        spec: ProblemSpec,
    ) -> Result<Done<u32>> {
        let at = Utc::now();
        self.problem_command(actor, slug, || ProblemCommand::Edit {
            spec: spec.clone(),
            by: actor.user_id,
            at,
        })
        .await
    }

    pub async fn publish_problem(&self, actor: &Actor, slug: &str) -> Result<Done<u32>> {
        let at = Utc::now();
        self.problem_command(actor, slug, || ProblemCommand::Publish {
            by: actor.user_id,
            at,
        })
        .await
    }

    pub async fn archive_problem(&self, actor: &Actor, slug: &str) -> Result<Done<u32>> {
        let at = Utc::now();
        self.problem_command(actor, slug, || ProblemCommand::Archive {
            by: actor.user_id,
            at,
        })
        .await
    }

    /// Records a submission against the problem's current version. It stays
    /// queued until a judge exists.
    #[tracing::instrument(skip(self, actor, code), fields(user = %actor.user_id, submission_id))]
    pub async fn submit(
        &self,
        actor: &Actor,
        slug: &str,
        code: &str,
    ) -> Result<Done<SubmissionId>> {
        let facts = self.problem_by_slug(slug).await?.map(ProblemFacts::from);
        let submission_id = SubmissionId::new();
        tracing::Span::current().record("submission_id", tracing::field::display(submission_id));
        let at = Utc::now();
        let done = self
            .execute::<Submission>(&submission_stream(submission_id), Some(actor), |_| {
                SubmissionCommand::Create {
                    submission_id,
                    user_id: actor.user_id,
                    problem: facts.clone(),
                    code: code.to_string(),
                    at,
                }
            })
            .await?;
        Ok(Done {
            value: submission_id,
            cursor: done.cursor,
        })
    }

    /// The submission as recorded in its stream.
    pub async fn submission(
        &self,
        id: SubmissionId,
    ) -> Result<Option<domain::submission::SubmissionState>> {
        Ok(self.load::<Submission>(&submission_stream(id)).await?.0.0)
    }

    /// The problem's spec as it stood at `version`: a submission is judged
    /// against the version it was made for, not a later edit.
    pub async fn problem_spec_at(
        &self,
        id: ProblemId,
        version: u32,
    ) -> Result<Option<ProblemSpec>> {
        let recorded = self.store.read_stream(&problem_stream(id), 1).await?;
        let mut state = Problem::default();
        for r in recorded {
            let event = codec::decode(&r.event_type, r.schema_version, r.data)?;
            let event = domain::problem::ProblemEvent::try_from(event).map_err(|_| {
                Error::Corrupt(format!(
                    "problem stream {id} holds a {} event",
                    r.event_type
                ))
            })?;
            state = state.evolve(&event);
            if state.0.as_ref().is_some_and(|p| p.version == version) {
                return Ok(state.0.map(|p| p.spec));
            }
        }
        Ok(None)
    }

    /// Records the judge's verdict, exactly once: a second verdict for the
    /// same submission (a redelivered job) is refused by the domain.
    #[tracing::instrument(skip(self, verdict), fields(kind = verdict.kind.as_str()))]
    pub async fn record_verdict(
        &self,
        id: SubmissionId,
        verdict: domain::submission::Verdict,
        rejudge_id: Option<RejudgeId>,
    ) -> Result<Done<()>> {
        let at = Utc::now();
        let done = self
            .execute::<Submission>(&submission_stream(id), None, |_| {
                SubmissionCommand::RecordVerdict {
                    verdict: verdict.clone(),
                    rejudge_id,
                    at,
                }
            })
            .await?;
        Ok(Done {
            value: (),
            cursor: done.cursor,
        })
    }

    /// [`Commands::record_verdict`] for a verdict judged elsewhere (a remote
    /// executor), appended exactly at `expected`: the submission stream's
    /// version when the job left the log. A verdict that finds the stream
    /// moved on because the submission was judged meanwhile is refused by the
    /// domain (`InvalidState`, a duplicate); any other move is a store
    /// `Conflict`, which the caller may retry.
    #[tracing::instrument(skip(self, verdict), fields(kind = verdict.kind.as_str()))]
    pub async fn record_verdict_at(
        &self,
        id: SubmissionId,
        verdict: domain::submission::Verdict,
        rejudge_id: Option<RejudgeId>,
        expected: u64,
    ) -> Result<Done<()>> {
        let stream = submission_stream(id);
        let (state, _) = self.load::<Submission>(&stream).await?;
        let command = SubmissionCommand::RecordVerdict {
            verdict,
            rejudge_id,
            at: Utc::now(),
        };
        let events = state.decide(command.clone())?;
        let new = events
            .into_iter()
            .map(|e| new_event(e.into(), None))
            .collect();
        match self
            .store
            .append(&stream, ExpectedVersion::Exact(expected), new)
            .await
        {
            Ok(appended) => Ok(Done {
                value: (),
                cursor: appended.last,
            }),
            Err(conflict @ store::Error::Conflict { .. }) => {
                // Judged between our load and append: the domain says why,
                // or the stream moved for another reason.
                let (state, _) = self.load::<Submission>(&stream).await?;
                match state.decide(command) {
                    Err(refused) => Err(refused.into()),
                    Ok(_) => Err(conflict.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records a playground run (sizes and measurements, not the code).
    pub async fn record_playground_run(
        &self,
        actor: &Actor,
        event: domain::playground::PlaygroundEvent,
    ) -> Result<Done<()>> {
        let appended = self
            .store
            .append(
                &domain::playground::stream(actor.user_id),
                ExpectedVersion::Any,
                vec![new_event(event.into(), Some(actor))],
            )
            .await?;
        Ok(Done {
            value: (),
            cursor: appended.last,
        })
    }
}

fn new_event(event: Event, actor: Option<&Actor>) -> NewEvent {
    let encoded = codec::encode(&event);
    let metadata = match actor {
        Some(a) => json!({ "actor": a.user_id, "role": a.role.as_str() }),
        None => json!({}),
    };
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: encoded.event_type.to_string(),
        schema_version: encoded.schema_version,
        data: encoded.data,
        metadata,
    }
}
