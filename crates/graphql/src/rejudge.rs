//! Rejudges (admins only): start one for a problem, read its progress, or
//! follow it live until every new verdict has landed.

use std::pin::Pin;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use domain::submission::SubmissionEvent;
use domain::user::Role;
use domain::{Event, RejudgeId};
use futures::{Stream, StreamExt};
use projections::rejudges::{self, RejudgeView};

use crate::context::{Services, request, services};
use crate::error::{Code, api_error, from_command, from_read};
use crate::live::{self, Heard, LiveEvent};
use crate::schema::{parse_id, problem_view};
use crate::subscription::{Items, session, until_expired};

/// Which of a problem's judged submissions to judge again.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RejudgeScope {
    /// Every judged submission.
    All,
    /// Only those accepted now: the ones stricter tests can knock out of the
    /// rankings.
    Accepted,
}

impl From<RejudgeScope> for domain::rejudge::RejudgeScope {
    fn from(s: RejudgeScope) -> Self {
        match s {
            RejudgeScope::All => Self::All,
            RejudgeScope::Accepted => Self::Accepted,
        }
    }
}

/// A rejudge and how far it has got. Each submission it queued gets a new
/// verdict against `problemVersion`, and rankings, leaderboards, profiles
/// and stats follow the new verdicts.
#[derive(SimpleObject, Debug, Clone)]
pub struct Rejudge {
    pub id: ID,
    /// The problem's slug.
    pub problem: String,
    /// The version every new verdict is judged against.
    pub problem_version: i32,
    pub scope: RejudgeScope,
    /// Submissions queued.
    pub total: i64,
    /// Submissions with their new verdict so far.
    pub judged: i64,
    /// New verdicts of another kind than the one they replace.
    pub changed: i64,
    /// Accepted before, failing now.
    pub now_failing: i64,
    /// Failing before, accepted now.
    pub now_passing: i64,
    pub started_at: DateTime<Utc>,
    /// When the last new verdict landed; null while some are to come.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<RejudgeView> for Rejudge {
    fn from(v: RejudgeView) -> Self {
        Self {
            id: ID(v.rejudge_id.to_string()),
            problem: v.problem_slug,
            problem_version: v.problem_version as i32,
            scope: if v.scope == "accepted" {
                RejudgeScope::Accepted
            } else {
                RejudgeScope::All
            },
            total: v.total,
            judged: v.judged,
            changed: v.changed,
            now_failing: v.now_failing,
            now_passing: v.now_passing,
            started_at: v.started_at,
            finished_at: v.finished_at,
        }
    }
}

/// What `rejudgeProblem` started.
#[derive(SimpleObject, Debug, Clone)]
pub struct RejudgeStarted {
    pub rejudge: Rejudge,
    /// Submissions of the problem left out: still waiting for their first
    /// verdict (judged against the version they were made for), or outside
    /// the scope.
    pub skipped: i64,
}

async fn load(s: &Services, id: RejudgeId) -> async_graphql::Result<Rejudge> {
    rejudges::rejudge(&s.db, id)
        .await
        .map_err(from_read)?
        .map(Rejudge::from)
        .ok_or_else(|| api_error(Code::NotFound, "rejudge not found"))
}

#[derive(Debug, Default)]
pub struct RejudgeQuery;

#[Object]
impl RejudgeQuery {
    /// Admins only. A rejudge's progress.
    async fn rejudge(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Rejudge> {
        request(ctx).admin()?;
        load(services(ctx), parse_id::<RejudgeId>(&id, "rejudge")?).await
    }

    /// Admins only. A problem's rejudges, newest first.
    async fn rejudges(
        &self,
        ctx: &Context<'_>,
        problem: String,
        #[graphql(default = 10)] first: i32,
    ) -> async_graphql::Result<Vec<Rejudge>> {
        request(ctx).admin()?;
        let s = services(ctx);
        let first = crate::stats::first(first)?;
        let view = problem_view(&s.db, &problem, true).await?;
        Ok(rejudges::rejudges_of(&s.db, view.problem_id, first)
            .await
            .map_err(from_read)?
            .into_iter()
            .map(Rejudge::from)
            .collect())
    }
}

#[derive(Debug, Default)]
pub struct RejudgeMutation;

#[Object]
impl RejudgeMutation {
    /// Admins only. Judges the problem's judged submissions (all, or only
    /// the accepted ones) again against its current version, usually after
    /// its tests or limits changed. Returns at once; follow the progress
    /// with `rejudge(id)` or the `rejudgeProgress` subscription.
    async fn rejudge_problem(
        &self,
        ctx: &Context<'_>,
        slug: String,
        #[graphql(default_with = "RejudgeScope::All")] scope: RejudgeScope,
    ) -> async_graphql::Result<RejudgeStarted> {
        let actor = request(ctx).admin()?;
        let s = services(ctx);
        let view = problem_view(&s.db, &slug, true).await?;
        let candidates = rejudges::submissions_of(&s.db, view.problem_id)
            .await
            .map_err(from_read)?;
        let done = s
            .commands
            .start_rejudge(actor, &slug, scope.into(), candidates)
            .await
            .map_err(from_command)?;
        s.settle(done.cursor).await?;
        Ok(RejudgeStarted {
            rejudge: load(s, done.value.rejudge_id).await?,
            skipped: i64::from(done.value.skipped),
        })
    }
}

#[derive(Debug, Default)]
pub struct RejudgeSubscription;

#[Subscription]
impl RejudgeSubscription {
    /// Admins only. A rejudge's progress now, then each time one of its
    /// submissions gets its new verdict; completes when the last one lands.
    async fn rejudge_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Rejudge>>> {
        let s = services(ctx).clone();
        let session = session(ctx)?.clone();
        let actor = session.recheck(&s).await?;
        if actor.role != Role::Admin {
            return Err(api_error(Code::Forbidden, "only admins may do this"));
        }
        let id = parse_id::<RejudgeId>(&id, "rejudge")?;
        // Listen before reading: whatever lands after the read is heard.
        let events = Box::pin(live::listen(s.live.events()));
        let first = load(&s, id).await?;
        let watch = Watch {
            done: first.finished_at.is_some(),
            s,
            id,
            events,
        };
        let rest = futures::stream::unfold(watch, |mut watch| async move {
            let update = watch.next().await?;
            Some((update, watch))
        });
        let items: Items<Rejudge> =
            Box::pin(futures::stream::once(async move { Ok(first) }).chain(rest));
        Ok(until_expired(session, items))
    }
}

struct Watch {
    s: Services,
    id: RejudgeId,
    events: Pin<Box<dyn Stream<Item = Heard<Arc<LiveEvent>>> + Send>>,
    done: bool,
}

impl Watch {
    /// The next progress; `None` once the finished state has been sent.
    async fn next(&mut self) -> Option<async_graphql::Result<Rejudge>> {
        if self.done {
            return None;
        }
        loop {
            let relevant = match self.events.next().await? {
                Heard::Lagged => true,
                Heard::Message(event) => matches!(
                    &event.event,
                    Event::Submission(SubmissionEvent::SubmissionJudged {
                        rejudge_id: Some(r),
                        ..
                    }) if *r == self.id
                ),
            };
            if relevant {
                let current = load(&self.s, self.id).await;
                self.done = current.as_ref().map_or(true, |r| r.finished_at.is_some());
                return Some(current);
            }
        }
    }
}
