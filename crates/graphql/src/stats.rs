//! The read side's rankings, leaderboard, profiles, problem statistics and
//! admin analytics as GraphQL types, and the resolvers' shared checks.
//!
//! Every answer is computed from the read models as they are now, or, with
//! `asOf` (admins), from a model of the log replayed up to then
//! ([`read_model`]). "Today" comes from here, never from the projections:
//! the clock now, or the `asOf` moment.

use std::collections::HashSet;

use async_graphql::{ComplexObject, Context, ID, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::UserId;
use projections::distribution::Distribution;
use projections::{ReadDb, analytics, leaderboard, profiles, ranking};

use crate::context::{RequestCtx, Services};
use crate::error::{Code, api_error, from_read};
use crate::types::{Difficulty, VerdictKind};

/// Longest date range a heatmap or analytics query covers, in days.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Most entries in one leaderboard or ranking page.
pub const MAX_FIRST: i32 = 100;

pub fn first(first: i32) -> async_graphql::Result<i64> {
    if (1..=MAX_FIRST).contains(&first) {
        Ok(first as i64)
    } else {
        Err(api_error(
            Code::BadUserInput,
            format!("first must be between 1 and {MAX_FIRST}"),
        ))
    }
}

pub fn bad_cursor(_: ranking::BadCursor) -> async_graphql::Error {
    api_error(
        Code::BadUserInput,
        "after is not a cursor from this list; pass a `cursor` or `endCursor` it returned",
    )
}

/// The read models to answer from and the moment they stand at: the live
/// ones now, or (admins only) those of `as_of`, replayed from the log.
pub async fn read_model(
    ctx: &Context<'_>,
    as_of: Option<DateTime<Utc>>,
) -> async_graphql::Result<(ReadDb, DateTime<Utc>)> {
    let s = ctx.data_unchecked::<Services>();
    let Some(at) = as_of else {
        return Ok((s.db.clone(), Utc::now()));
    };
    ctx.data_unchecked::<RequestCtx>().admin()?;
    let db = s.time_travel.model(at).await.map_err(from_read)?;
    Ok((db, at))
}

/// `from..=to`, defaulting to the `default_days` days that end `today`.
pub fn date_range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    default_days: i64,
    today: NaiveDate,
) -> async_graphql::Result<(NaiveDate, NaiveDate)> {
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to - chrono::Duration::days(default_days - 1));
    if from > to {
        return Err(api_error(Code::BadUserInput, "from must not be after to"));
    }
    if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
        return Err(api_error(
            Code::BadUserInput,
            format!("a date range covers at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok((from, to))
}

pub fn buckets(buckets: i32) -> async_graphql::Result<usize> {
    if (1..=50).contains(&buckets) {
        Ok(buckets as usize)
    } else {
        Err(api_error(
            Code::BadUserInput,
            "buckets must be between 1 and 50",
        ))
    }
}

#[derive(SimpleObject, Debug)]
pub struct LeaderboardEntry {
    /// 1-based place on the whole leaderboard.
    pub rank: i64,
    pub user_id: ID,
    pub username: String,
    /// Solved problems weighted by difficulty: easy 1, medium 2, hard 3.
    pub score: i64,
    pub solved: i64,
    pub easy_solved: i64,
    pub medium_solved: i64,
    pub hard_solved: i64,
    /// When the user reached this score (ties go to whoever got there first):
    /// the submission time of their latest first solve.
    pub reached_at: DateTime<Utc>,
    /// Pass as `after` for the entries below this one.
    pub cursor: String,
}

impl From<leaderboard::LeaderboardEntry> for LeaderboardEntry {
    fn from(e: leaderboard::LeaderboardEntry) -> Self {
        Self {
            rank: e.rank,
            user_id: ID(e.user_id.to_string()),
            username: e.username,
            score: e.score,
            solved: e.solved,
            easy_solved: e.easy,
            medium_solved: e.medium,
            hard_solved: e.hard,
            reached_at: e.reached_at,
            cursor: e.cursor,
        }
    }
}

#[derive(SimpleObject, Debug)]
pub struct LeaderboardPage {
    pub entries: Vec<LeaderboardEntry>,
    /// The last entry's cursor: pass as `after` for the next page.
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
}

impl From<ranking::Page<leaderboard::LeaderboardEntry>> for LeaderboardPage {
    fn from(p: ranking::Page<leaderboard::LeaderboardEntry>) -> Self {
        let entries: Vec<LeaderboardEntry> = p.entries.into_iter().map(Into::into).collect();
        Self {
            end_cursor: entries.last().map(|e| e.cursor.clone()),
            entries,
            has_next_page: p.has_next_page,
        }
    }
}

/// A user's best accepted submission to a problem.
#[derive(SimpleObject, Debug)]
pub struct RankingEntry {
    /// 1-based place: by runtime, then memory, then submission time.
    pub rank: i64,
    pub user_id: ID,
    pub username: String,
    pub submission_id: ID,
    pub runtime_ms: i64,
    pub memory_kb: i64,
    pub submitted_at: DateTime<Utc>,
    /// Pass as `after` for the entries below this one.
    pub cursor: String,
}

#[derive(SimpleObject, Debug)]
pub struct RankingPage {
    pub entries: Vec<RankingEntry>,
    /// The last entry's cursor: pass as `after` for the next page.
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
}

impl From<ranking::RankingEntry> for RankingEntry {
    fn from(e: ranking::RankingEntry) -> Self {
        Self {
            rank: e.rank,
            user_id: ID(e.user_id.to_string()),
            username: e.username,
            submission_id: ID(e.submission_id.to_string()),
            runtime_ms: e.runtime_ms,
            memory_kb: e.memory_kb,
            submitted_at: e.submitted_at,
            cursor: e.cursor,
        }
    }
}

impl From<ranking::Page<ranking::RankingEntry>> for RankingPage {
    fn from(p: ranking::Page<ranking::RankingEntry>) -> Self {
        let entries: Vec<RankingEntry> = p.entries.into_iter().map(Into::into).collect();
        Self {
            end_cursor: entries.last().map(|e| e.cursor.clone()),
            entries,
            has_next_page: p.has_next_page,
        }
    }
}

/// One histogram bar: measurements from `low` to `high`, both included.
#[derive(SimpleObject, Debug)]
pub struct Bucket {
    pub low: i64,
    pub high: i64,
    pub count: i64,
}

/// A distribution of accepted submissions' measurements (ms or KiB).
#[derive(SimpleObject, Debug)]
pub struct DistributionStats {
    pub count: i64,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub mean: Option<f64>,
    /// Nearest-rank median.
    pub p50: Option<i64>,
    /// Nearest-rank 90th percentile.
    pub p90: Option<i64>,
    /// Equal-width bars from min to max, empty ones included.
    pub histogram: Vec<Bucket>,
}

impl DistributionStats {
    pub fn new(d: &Distribution, buckets: usize) -> Self {
        Self {
            count: d.count(),
            min: d.min(),
            max: d.max(),
            mean: d.mean(),
            p50: d.percentile(50.0),
            p90: d.percentile(90.0),
            histogram: d
                .histogram(buckets)
                .into_iter()
                .map(|b| Bucket {
                    low: b.low,
                    high: b.high,
                    count: b.count,
                })
                .collect(),
        }
    }
}

#[derive(SimpleObject, Debug)]
pub struct VerdictCount {
    pub verdict: VerdictKind,
    pub count: i64,
}

pub fn verdict_mix(mix: Vec<(domain::submission::VerdictKind, i64)>) -> Vec<VerdictCount> {
    mix.into_iter()
        .map(|(v, count)| VerdictCount {
            verdict: v.into(),
            count,
        })
        .collect()
}

#[derive(SimpleObject, Debug)]
pub struct ProblemStats {
    pub slug: String,
    pub submissions: i64,
    /// Submissions with a verdict, not counting the judge's own failures.
    pub judged: i64,
    pub accepted: i64,
    /// `accepted / judged` in percent; null before the first verdict.
    pub acceptance_rate: Option<f64>,
    /// Users with at least one submission.
    pub attempters: i64,
    /// Users with at least one accepted submission.
    pub solvers: i64,
    /// Every verdict given, internal errors included; most frequent first.
    pub verdict_mix: Vec<VerdictCount>,
    /// Runtimes of accepted submissions, in ms.
    pub runtime_ms: DistributionStats,
    /// Peak memory of accepted submissions, in KiB.
    pub memory_kb: DistributionStats,
}

/// One day of a user's activity.
#[derive(SimpleObject, Debug)]
pub struct ActivityDay {
    pub date: NaiveDate,
    pub submissions: i64,
    pub accepted: i64,
}

#[derive(SimpleObject, Debug)]
pub struct RecentSubmission {
    pub id: ID,
    pub problem_slug: String,
    /// Null while queued.
    pub verdict: Option<VerdictKind>,
    pub created_at: DateTime<Utc>,
}

/// What anyone can see of a user's progress.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct Profile {
    pub user_id: ID,
    pub username: String,
    /// Place on the global leaderboard; null before the first solve.
    pub rank: Option<i64>,
    pub score: i64,
    pub solved: i64,
    pub easy_solved: i64,
    pub medium_solved: i64,
    pub hard_solved: i64,
    pub submissions: i64,
    /// Submissions with a verdict, not counting the judge's own failures.
    pub judged: i64,
    pub accepted: i64,
    /// `accepted / judged` in percent; null before the first verdict.
    pub acceptance_rate: Option<f64>,
    /// Consecutive UTC days with an accepted submission, ending today or
    /// yesterday.
    pub current_streak: i64,
    pub longest_streak: i64,
    #[graphql(skip)]
    pub id: UserId,
    /// The read models this profile came from (live, or as of a moment).
    #[graphql(skip)]
    pub db: ReadDb,
    #[graphql(skip)]
    pub today: NaiveDate,
}

impl Profile {
    pub async fn load(
        db: ReadDb,
        now: DateTime<Utc>,
        id: UserId,
        username: String,
    ) -> async_graphql::Result<Self> {
        let today = now.date_naive();
        let standing = leaderboard::standing(&db, id).await.map_err(from_read)?;
        let stats = profiles::stats(&db, id).await.map_err(from_read)?;
        let streaks = profiles::streaks(&db, id, today).await.map_err(from_read)?;
        let (rank, score, solved, easy, medium, hard) = standing
            .map_or((None, 0, 0, 0, 0, 0), |e| {
                (Some(e.rank), e.score, e.solved, e.easy, e.medium, e.hard)
            });
        Ok(Self {
            user_id: ID(id.to_string()),
            username,
            rank,
            score,
            solved,
            easy_solved: easy,
            medium_solved: medium,
            hard_solved: hard,
            submissions: stats.submissions,
            judged: stats.judged,
            accepted: stats.accepted,
            acceptance_rate: stats.acceptance_rate(),
            current_streak: streaks.current,
            longest_streak: streaks.longest,
            id,
            db,
            today,
        })
    }
}

#[ComplexObject]
impl Profile {
    /// Submissions per UTC day for a heatmap: days with activity only, from
    /// `from` to `to` (default: the 365 days that end today; at most 366).
    async fn activity(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> async_graphql::Result<Vec<ActivityDay>> {
        let (from, to) = date_range(from, to, 365, self.today)?;
        let days = profiles::activity(&self.db, self.id, from, to)
            .await
            .map_err(from_read)?;
        Ok(days
            .into_iter()
            .map(|d| ActivityDay {
                date: d.date,
                submissions: d.submissions,
                accepted: d.accepted,
            })
            .collect())
    }

    /// Latest submissions, newest first (never the code).
    async fn recent_submissions(
        &self,
        #[graphql(default = 10)] limit: i32,
    ) -> async_graphql::Result<Vec<RecentSubmission>> {
        let limit = first(limit)?;
        let recent = profiles::recent(&self.db, self.id, limit)
            .await
            .map_err(from_read)?;
        Ok(recent
            .into_iter()
            .map(|r| RecentSubmission {
                id: ID(r.submission_id.to_string()),
                problem_slug: r.problem_slug,
                verdict: r.verdict.map(Into::into),
                created_at: r.created_at,
            })
            .collect())
    }
}

#[derive(SimpleObject, Debug)]
pub struct AnalyticsDay {
    pub date: NaiveDate,
    pub submissions: i64,
    /// Verdicts on that day's submissions, not counting the judge's failures.
    pub judged: i64,
    pub accepted: i64,
    /// Users who submitted or used the playground that day.
    pub active_users: i64,
    pub playground_runs: i64,
}

#[derive(SimpleObject, Debug)]
pub struct LimitCount {
    /// "cpu", "wall", "memory", "output", "processes" or "file_size".
    pub limit: String,
    pub count: i64,
}

#[derive(SimpleObject, Debug)]
pub struct PlaygroundUsage {
    pub runs: i64,
    pub users: i64,
    pub mean_cpu_ms: Option<f64>,
    pub mean_memory_kb: Option<f64>,
    /// Runs stopped by a limit, by limit.
    pub limits_hit: Vec<LimitCount>,
}

/// A problem's numbers over its whole history.
#[derive(SimpleObject, Debug)]
pub struct ProblemAnalytics {
    pub slug: String,
    pub title: String,
    pub difficulty: Difficulty,
    pub submissions: i64,
    pub judged: i64,
    pub accepted: i64,
    pub acceptance_rate: Option<f64>,
    pub attempters: i64,
    pub solvers: i64,
    /// Runtimes of accepted submissions, in ms.
    pub runtime_ms: DistributionStats,
    /// Peak memory of accepted submissions, in KiB.
    pub memory_kb: DistributionStats,
}

#[derive(SimpleObject, Debug)]
pub struct Analytics {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Every day from `from` to `to`, quiet days as zeros.
    pub days: Vec<AnalyticsDay>,
    /// Distinct users active on any day of the range.
    pub active_users: i64,
    /// Verdicts on submissions made in the range; most frequent first.
    pub verdict_mix: Vec<VerdictCount>,
    pub playground: PlaygroundUsage,
    /// Every problem (drafts and archived ones too), over all time.
    pub problems: Vec<ProblemAnalytics>,
    /// The tutor over the range; `tutorUsage` breaks it down by day, user
    /// and problem.
    pub tutor: TutorTotals,
}

/// Tutor use over a range of days.
#[derive(SimpleObject, Debug, Default, PartialEq)]
pub struct TutorTotals {
    pub questions: i64,
    pub replies: i64,
    /// Questions the provider could not answer (timeouts, 429s, 5xx).
    pub failures: i64,
    /// Distinct users who asked.
    pub users: i64,
    /// Distinct problems asked about.
    pub problems: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// Mean reply latency over the replies; null without one.
    pub mean_latency_ms: Option<f64>,
    pub max_latency_ms: i64,
}

impl TutorTotals {
    fn of(rows: &[projections::tutor::UsageRow]) -> Self {
        let mut t = TutorTotals::default();
        let (mut users, mut problems) = (HashSet::new(), HashSet::new());
        let mut latency_total = 0.0;
        for r in rows {
            t.questions += r.questions;
            t.replies += r.replies;
            t.failures += r.failures;
            t.prompt_tokens += r.prompt_tokens;
            t.completion_tokens += r.completion_tokens;
            t.max_latency_ms = t.max_latency_ms.max(r.max_latency_ms);
            latency_total += r.mean_latency_ms.unwrap_or(0.0) * r.replies as f64;
            users.insert(r.user_id);
            problems.insert(r.problem_slug.as_str());
        }
        t.users = users.len() as i64;
        t.problems = problems.len() as i64;
        t.mean_latency_ms = (t.replies > 0).then(|| latency_total / t.replies as f64);
        t
    }
}

impl Analytics {
    pub async fn load(
        db: &ReadDb,
        from: NaiveDate,
        to: NaiveDate,
        buckets: usize,
    ) -> async_graphql::Result<Self> {
        let days = analytics::days(db, from, to).await.map_err(from_read)?;
        let active_users = analytics::active_users(db, from, to)
            .await
            .map_err(from_read)?;
        let mix = analytics::verdict_mix(db, from, to)
            .await
            .map_err(from_read)?;
        let pg = analytics::playground(db, from, to)
            .await
            .map_err(from_read)?;
        let mut counts: std::collections::HashMap<_, _> =
            projections::problem_stats::all_counts(db)
                .await
                .map_err(from_read)?
                .into_iter()
                .collect();
        let mut dists = ranking::all_distributions(db).await.map_err(from_read)?;
        let tutor = projections::tutor::usage(db, from, to)
            .await
            .map_err(from_read)?;
        let problems = projections::problem_stats::catalogue(db)
            .await
            .map_err(from_read)?
            .into_iter()
            .map(|(id, slug, title, difficulty)| {
                let c = counts.remove(&id).unwrap_or_default();
                let (runtime, memory) = dists.remove(&id).unwrap_or_default();
                ProblemAnalytics {
                    slug,
                    title,
                    difficulty: difficulty.into(),
                    submissions: c.submissions,
                    judged: c.judged,
                    accepted: c.accepted,
                    acceptance_rate: c.acceptance_rate(),
                    attempters: c.attempters,
                    solvers: c.solvers,
                    runtime_ms: DistributionStats::new(&runtime, buckets),
                    memory_kb: DistributionStats::new(&memory, buckets),
                }
            })
            .collect();
        Ok(Self {
            tutor: TutorTotals::of(&tutor),
            from,
            to,
            days: days
                .into_iter()
                .map(|d| AnalyticsDay {
                    date: d.date,
                    submissions: d.submissions,
                    judged: d.judged,
                    accepted: d.accepted,
                    active_users: d.active_users,
                    playground_runs: d.playground_runs,
                })
                .collect(),
            active_users,
            verdict_mix: verdict_mix(mix),
            playground: PlaygroundUsage {
                runs: pg.runs,
                users: pg.users,
                mean_cpu_ms: pg.mean_cpu_ms,
                mean_memory_kb: pg.mean_memory_kb,
                limits_hit: pg
                    .limits_hit
                    .into_iter()
                    .map(|(limit, count)| LimitCount { limit, count })
                    .collect(),
            },
            problems,
        })
    }
}
