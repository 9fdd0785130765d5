//! The subscription root: live submissions, leaderboards and, for admins,
//! the event feed. Served over WebSocket by [`crate::ws`].
//!
//! Every subscription starts with the current state (`reason: INITIAL`), so
//! a client needs no separate query and knows it is listening. After that
//! it gets changes (`CHANGED`) and, if it fell too far behind to be sent
//! every change, the current state again (`RESYNC`).

use std::pin::Pin;
use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, ID, Json, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use domain::submission::SubmissionEvent;
use domain::user::Role;
use domain::{Event, ProblemId, SubmissionId, UserId};
use futures::{Stream, StreamExt};
use projections::queries::{self, SubmissionView};
use store::Cursor;

use crate::context::{Services, services};
use crate::error::{Code, api_error, from_read, internal};
use crate::http::Session;
use crate::live::{self, Heard, LiveEvent};
use crate::stats::{self, LeaderboardEntry, RankingEntry};
use crate::types::{TestResult, Verdict};

pub(crate) type Items<T> = Pin<Box<dyn Stream<Item = async_graphql::Result<T>> + Send>>;

/// Why an update was sent.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum UpdateReason {
    /// The state when the subscription started.
    Initial,
    /// Something changed.
    Changed,
    /// The subscriber fell behind and missed changes: this is the current
    /// state.
    Resync,
}

/// Where a submission is in the judge.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SubmissionPhase {
    Queued,
    /// A judge is running its tests: see `progress`.
    Running,
    /// Judged: see `verdict`. The last update of a subscription.
    Judged,
}

/// A running judgement's progress.
#[derive(SimpleObject, Debug)]
pub struct JudgeProgress {
    /// Tests passed so far.
    pub passed: u32,
    /// Tests the problem has (examples and hidden).
    pub total: u32,
    /// The test that just ended (hidden tests show only their verdict);
    /// null when the judge has just started.
    pub test: Option<TestResult>,
}

#[derive(SimpleObject, Debug)]
pub struct SubmissionUpdate {
    pub submission_id: ID,
    pub status: SubmissionPhase,
    pub reason: UpdateReason,
    /// While RUNNING.
    pub progress: Option<JudgeProgress>,
    /// Once JUDGED.
    pub verdict: Option<Verdict>,
}

#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct LeaderboardUpdate {
    pub reason: UpdateReason,
    /// The problem whose ranking this is; null for the global leaderboard.
    pub problem_slug: Option<String>,
    /// Where in the event log the change happened (`tx:seq`).
    pub position: String,
    /// The global leaderboard's top entries (empty for a problem's ranking).
    pub leaderboard: Vec<LeaderboardEntry>,
    /// The problem ranking's top entries (empty for the global leaderboard).
    pub ranking: Vec<RankingEntry>,
    #[graphql(skip)]
    pub viewer: UserId,
}

#[ComplexObject]
impl LeaderboardUpdate {
    /// The subscriber's own place on the global leaderboard, wherever it
    /// is; null before their first solve.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<LeaderboardEntry>> {
        let s = ctx.data_unchecked::<Services>();
        Ok(projections::leaderboard::standing(&s.db, self.viewer)
            .await
            .map_err(from_read)?
            .map(Into::into))
    }
}

/// An event of the log, as the admin feed shows it.
#[derive(SimpleObject, Debug)]
pub struct LogEvent {
    /// Its place in the log (`tx:seq`); pass as `after` to resume from it.
    pub position: String,
    #[graphql(name = "type")]
    pub event_type: String,
    pub stream: String,
    pub schema_version: u32,
    pub recorded_at: DateTime<Utc>,
    /// The event's data in its current shape. Hidden tests are replaced by
    /// `hidden_test_count`, password hashes left out.
    pub data: Json<serde_json::Value>,
}

impl From<&LiveEvent> for LogEvent {
    fn from(e: &LiveEvent) -> Self {
        Self {
            position: e.cursor.to_string(),
            event_type: e.event_type.clone(),
            stream: e.stream.clone(),
            schema_version: e.schema_version,
            recorded_at: e.recorded_at,
            data: Json(live::redacted_data(&e.event)),
        }
    }
}

#[derive(Debug, Default)]
pub struct CoreSubscription;

#[Subscription]
impl CoreSubscription {
    /// One of your submissions (admins: anyone's) as the judge works on it:
    /// its current state first, then RUNNING with each test's outcome, then
    /// JUDGED with the verdict, after which the subscription completes.
    async fn submission_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<SubmissionUpdate>>> {
        let s = services(ctx).clone();
        let actor = session(ctx)?.recheck(&s).await?;
        let id: SubmissionId = id
            .parse()
            .map_err(|_| api_error(Code::BadUserInput, "submission id is not a valid id"))?;
        // Listen before reading: whatever happens after the read is heard.
        let events = Box::pin(live::listen(s.live.events()));
        let progress = Box::pin(live::listen(s.live.progress()));
        let view = queries::submission_by_id(&s.db, id)
            .await
            .map_err(from_read)?
            .ok_or_else(|| api_error(Code::NotFound, "submission not found"))?;
        if view.user_id != actor.user_id && actor.role != Role::Admin {
            return Err(api_error(
                Code::Forbidden,
                "you may only follow your own submissions",
            ));
        }
        let mut watch = SubmissionWatch {
            s,
            id,
            events,
            progress,
            done: false,
        };
        let first = watch.state(view, UpdateReason::Initial);
        let rest = futures::stream::unfold(watch, |mut watch| async move {
            let update = watch.next().await?;
            Some((update, watch))
        });
        Ok(futures::stream::once(async move { Ok(first) }).chain(rest))
    }

    /// The global leaderboard (or, with `problem`, a slug, that problem's
    /// ranking): its top `first` entries now, then again each time it
    /// changes. NOT_FOUND for a problem the caller may not see.
    async fn leaderboard_changed(
        &self,
        ctx: &Context<'_>,
        problem: Option<String>,
        #[graphql(default = 10)] first: i32,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<LeaderboardUpdate>>> {
        let s = services(ctx).clone();
        let session = session(ctx)?.clone();
        let actor = session.recheck(&s).await?;
        let first = stats::first(first)? as usize;
        let problem = match problem {
            Some(slug) => {
                let view = queries::problem_by_slug(&s.db, &slug, actor.role == Role::Admin)
                    .await
                    .map_err(from_read)?
                    .ok_or_else(|| api_error(Code::NotFound, "problem not found"))?;
                Some((view.problem_id, view.slug))
            }
            None => None,
        };
        let watch = LeaderboardWatch {
            updates: Box::pin(live::listen(s.live.leaderboard())),
            board: Board {
                s,
                problem,
                first,
                viewer: actor.user_id,
            },
        };
        let first_update = watch.board.current(UpdateReason::Initial).await?;
        let rest = futures::stream::unfold(watch, |mut watch| async move {
            let update = watch.next().await?;
            Some((update, watch))
        });
        Ok(until_expired(
            session,
            futures::stream::once(async move { Ok(first_update) }).chain(rest),
        ))
    }

    /// Admins only: the event log as it grows, once the read models have
    /// applied each event. With `after` (a `position`), the events after it
    /// first, so a client can resume where it left off.
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<LogEvent>>> {
        let s = services(ctx).clone();
        let session = session(ctx)?.clone();
        let actor = session.recheck(&s).await?;
        if actor.role != Role::Admin {
            return Err(api_error(Code::Forbidden, "only admins may do this"));
        }
        let from = match after {
            Some(position) => parse_cursor(&position)?,
            None => s.live.position(),
        };
        let feed = EventFeed {
            live: Box::pin(live::listen(s.live.events())),
            own_stream: format!("user-{}", actor.user_id),
            session: session.clone(),
            s,
            sent: from,
            replaying: true,
            replay: std::collections::VecDeque::new(),
            done: false,
        };
        let items = futures::stream::unfold(feed, |mut feed| async move {
            let item = feed.next().await?;
            Some((item, feed))
        });
        Ok(until_expired(session, items))
    }
}

pub(crate) fn session<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Session> {
    ctx.data_opt::<Session>().ok_or_else(|| {
        api_error(
            Code::Unauthenticated,
            "subscriptions need a token in connection_init",
        )
    })
}

fn parse_cursor(position: &str) -> async_graphql::Result<Cursor> {
    let bad = || {
        api_error(
            Code::BadUserInput,
            "after must be a position (`tx:seq`) from this feed",
        )
    };
    let (tx, seq) = position.split_once(':').ok_or_else(bad)?;
    Ok(Cursor {
        tx: tx.parse().map_err(|_| bad())?,
        seq: seq.parse().map_err(|_| bad())?,
    })
}

/// Ends `items` with an UNAUTHENTICATED error when the session's token
/// expires: a long-lived subscription does not outlive its token.
pub(crate) fn until_expired<T: Send + 'static>(
    session: Session,
    items: impl Stream<Item = async_graphql::Result<T>> + Send + 'static,
) -> Items<T> {
    let left = (session.claims.exp - Utc::now().timestamp()).max(0) as u64;
    let expiry = tokio::time::sleep(std::time::Duration::from_secs(left));
    let expired = futures::stream::once(async move {
        expiry.await;
        Err(api_error(
            Code::Unauthenticated,
            "the token has expired; subscribe again with a new one",
        ))
    });
    Box::pin(
        futures::stream::select(
            items.map(Some).chain(futures::stream::once(async { None })),
            expired.map(Some),
        )
        .take_while(|item| std::future::ready(item.is_some()))
        .filter_map(std::future::ready)
        .scan(false, |ended, item: async_graphql::Result<T>| {
            // Nothing after an expiry error.
            if *ended {
                return std::future::ready(None);
            }
            *ended = item.is_err();
            std::future::ready(Some(item))
        }),
    )
}

struct SubmissionWatch {
    s: Services,
    id: SubmissionId,
    events: Pin<Box<dyn Stream<Item = Heard<Arc<LiveEvent>>> + Send>>,
    progress: Pin<Box<dyn Stream<Item = Heard<live::JudgeProgress>> + Send>>,
    done: bool,
}

impl SubmissionWatch {
    /// The next update; `None` once the verdict has been sent.
    async fn next(&mut self) -> Option<async_graphql::Result<SubmissionUpdate>> {
        if self.done {
            return None;
        }
        loop {
            let heard = tokio::select! {
                // Progress is reported before the verdict is recorded, so it
                // goes first.
                biased;
                heard = self.progress.next() => match heard? {
                    Heard::Message(p) if p.submission_id == self.id => {
                        return Some(Ok(self.running(p, UpdateReason::Changed)));
                    }
                    Heard::Message(_) => continue,
                    Heard::Lagged => None,
                },
                heard = self.events.next() => match heard? {
                    Heard::Message(e) if judged(&e.event, self.id) => Some(UpdateReason::Changed),
                    Heard::Message(_) => continue,
                    Heard::Lagged => None,
                },
            };
            return Some(self.reload(heard.unwrap_or(UpdateReason::Resync)).await);
        }
    }

    /// The submission's state from the read model and the judge's progress.
    async fn reload(&mut self, reason: UpdateReason) -> async_graphql::Result<SubmissionUpdate> {
        let view = queries::submission_by_id(&self.s.db, self.id)
            .await
            .map_err(from_read)?
            .ok_or_else(|| internal("a followed submission vanished", &self.id))?;
        Ok(self.state(view, reason))
    }

    fn state(&mut self, view: SubmissionView, reason: UpdateReason) -> SubmissionUpdate {
        match Verdict::of(&view) {
            Some(verdict) => {
                self.done = true;
                SubmissionUpdate {
                    submission_id: ID(self.id.to_string()),
                    status: SubmissionPhase::Judged,
                    reason,
                    progress: None,
                    verdict: Some(verdict),
                }
            }
            None => match self.s.live.running(self.id) {
                Some(progress) => self.running(progress, reason),
                None => SubmissionUpdate {
                    submission_id: ID(self.id.to_string()),
                    status: SubmissionPhase::Queued,
                    reason,
                    progress: None,
                    verdict: None,
                },
            },
        }
    }

    fn running(&self, p: live::JudgeProgress, reason: UpdateReason) -> SubmissionUpdate {
        SubmissionUpdate {
            submission_id: ID(self.id.to_string()),
            status: SubmissionPhase::Running,
            reason,
            progress: Some(JudgeProgress {
                passed: p.passed,
                total: p.total,
                test: p.test.map(Into::into),
            }),
            verdict: None,
        }
    }
}

fn judged(event: &Event, id: SubmissionId) -> bool {
    matches!(event, Event::Submission(SubmissionEvent::SubmissionJudged { submission_id, .. }) if *submission_id == id)
}

struct LeaderboardWatch {
    board: Board,
    updates: Pin<Box<dyn Stream<Item = Heard<Arc<live::LeaderboardUpdate>>> + Send>>,
}

impl LeaderboardWatch {
    async fn next(&mut self) -> Option<async_graphql::Result<LeaderboardUpdate>> {
        let board = &self.board;
        loop {
            match self.updates.next().await? {
                Heard::Message(update) if update.problem == board.problem.as_ref().map(|p| p.0) => {
                    return Some(Ok(board.update(&update, UpdateReason::Changed)));
                }
                Heard::Message(_) => {}
                Heard::Lagged => return Some(board.current(UpdateReason::Resync).await),
            }
        }
    }
}

/// Which board a subscriber follows, and how much of it.
struct Board {
    s: Services,
    problem: Option<(ProblemId, String)>,
    first: usize,
    viewer: UserId,
}

impl Board {
    /// The board as the read model has it now.
    async fn current(&self, reason: UpdateReason) -> async_graphql::Result<LeaderboardUpdate> {
        let cursor = self.s.live.position();
        let top = live::TOP.min(self.first as i64);
        let mut update = live::LeaderboardUpdate {
            cursor,
            problem: self.problem.as_ref().map(|p| p.0),
            leaderboard: vec![],
            ranking: vec![],
        };
        match &self.problem {
            Some((problem, _)) => {
                update.ranking =
                    projections::ranking::problem_ranking(&self.s.db, *problem, top, None)
                        .await
                        .map_err(from_read)?
                        .map_err(stats::bad_cursor)?
                        .entries;
            }
            None => {
                update.leaderboard = projections::leaderboard::leaderboard(&self.s.db, top, None)
                    .await
                    .map_err(from_read)?
                    .map_err(stats::bad_cursor)?
                    .entries;
            }
        }
        Ok(self.update(&update, reason))
    }

    fn update(&self, update: &live::LeaderboardUpdate, reason: UpdateReason) -> LeaderboardUpdate {
        LeaderboardUpdate {
            reason,
            problem_slug: self.problem.as_ref().map(|p| p.1.clone()),
            position: update.cursor.to_string(),
            leaderboard: update
                .leaderboard
                .iter()
                .take(self.first)
                .cloned()
                .map(Into::into)
                .collect(),
            ranking: update
                .ranking
                .iter()
                .take(self.first)
                .cloned()
                .map(Into::into)
                .collect(),
            viewer: self.viewer,
        }
    }
}

/// Reads the log from `sent` while behind the live feed, then follows it;
/// back to the log whenever it lags, so an admin never misses an event and
/// memory holds at most one page of the log.
struct EventFeed {
    s: Services,
    session: Session,
    own_stream: String,
    live: Pin<Box<dyn Stream<Item = Heard<Arc<LiveEvent>>> + Send>>,
    /// The last event sent.
    sent: Cursor,
    replaying: bool,
    replay: std::collections::VecDeque<LiveEvent>,
    done: bool,
}

async fn still_admin(s: &Services, session: &Session) -> async_graphql::Result<()> {
    let actor = session.recheck(s).await?;
    if actor.role == Role::Admin {
        Ok(())
    } else {
        Err(api_error(Code::Forbidden, "only admins may do this"))
    }
}

/// Log events read per page while replaying.
const REPLAY_PAGE: usize = 100;

impl EventFeed {
    async fn next(&mut self) -> Option<async_graphql::Result<LogEvent>> {
        if self.done {
            return None;
        }
        loop {
            let event = if self.replaying {
                match self.replay.pop_front() {
                    Some(event) => Arc::new(event),
                    None => match self.read_page().await {
                        Ok(true) => continue,
                        Ok(false) => {
                            self.replaying = false;
                            continue;
                        }
                        Err(e) => {
                            self.done = true;
                            return Some(Err(e));
                        }
                    },
                }
            } else {
                match self.live.next().await? {
                    Heard::Message(event) => event,
                    Heard::Lagged => {
                        self.replaying = true;
                        continue;
                    }
                }
            };
            if event.cursor <= self.sent {
                continue;
            }
            self.sent = event.cursor;
            if event.stream == self.own_stream
                && let Err(e) = still_admin(&self.s, &self.session).await
            {
                // Deactivated, demoted or logged out everywhere.
                self.done = true;
                return Some(Err(e));
            }
            return Some(Ok(LogEvent::from(&*event)));
        }
    }

    /// Reads the next page of the log up to what the live feed has
    /// published; false when there is nothing more to read.
    async fn read_page(&mut self) -> async_graphql::Result<bool> {
        let until = self.s.live.position();
        if self.sent >= until {
            return Ok(false);
        }
        let page = self
            .s
            .commands
            .store()
            .read_all(self.sent, REPLAY_PAGE)
            .await
            .map_err(|e| internal("cannot read the event log", &e))?;
        for recorded in page.iter().filter(|r| r.cursor <= until) {
            match live::decode(recorded) {
                Ok(event) => self.replay.push_back(event),
                Err(e) => return Err(internal("an event does not decode", &e)),
            }
        }
        Ok(!self.replay.is_empty())
    }
}
