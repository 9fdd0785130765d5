//! `ranking`: per problem, each user's best accepted submission, ordered by
//! runtime, then memory, then submission time (then user id, so the order is
//! total); and the exact runtime and memory distributions of every accepted
//! submission, from which percentiles ("faster than 87% of accepted
//! submissions") and histograms are read.
//!
//! Owns `ranking_submissions`, `ranking_best`, `ranking_runtimes` and
//! `ranking_memory`. `ranking_submissions` keeps each submission's time (the
//! `SubmissionCreated` time), its current verdict and that verdict's log
//! position: a verdict applies only if it is newer, so re-applied events
//! change nothing. A rejudge that takes an accepted run back removes it from
//! the distributions, and if it was the user's best, their next best
//! accepted run takes its place (or the user leaves the ranking).

use chrono::{DateTime, Utc};
use domain::submission::{SubmissionEvent, Verdict, VerdictKind};
use domain::{Event, ProblemId, SubmissionId, UserId};
use futures::future::BoxFuture;
use sqlx::{AnyConnection, Row};

use crate::distribution::{Distribution, share_above};
use crate::leaderboard::uuid_text;
use crate::queries::parse;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::batch::{
    NO_POS, Pos, V, add_others, delete_in, insert, insert_all, int, pos, replace_others, select_in,
    text,
};
use crate::{Envelope, Fold, Projection, ReadDb, Result, Sink, from_micros, micros, never_created};

#[derive(Debug)]
pub struct Ranking;

impl Projection for Ranking {
    fn name(&self) -> &'static str {
        "ranking"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "ranking_submissions",
            "ranking_best",
            "ranking_runtimes",
            "ranking_memory",
        ]
    }

    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<()>> {
        self.apply_batch(conn, std::slice::from_ref(envelope))
    }

    fn apply_batch<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        events: &'a [Envelope],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(fold(conn, events))
    }

    fn fold(&self) -> Option<Box<dyn Fold>> {
        Some(Box::<RankingFold>::default())
    }
}

/// Hashes the folds' keys: ids the server made (time-ordered or random, never
/// chosen by a client) and small tuples of them, for which a folded multiply
/// mixes well enough and costs a fraction of SipHash.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        let product =
            u128::from(self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type IdHash = BuildHasherDefault<IdHasher>;

/// Submissions by id, in the order they were added. A fold's hot loop looks
/// ids up in an index of small entries rather than in a table of whole rows
/// (about three times faster over a million events), and a rebuild's list,
/// appended to in log order, is nearly in id order already (ids are
/// time-ordered) when it is sorted for writing.
#[derive(Debug)]
pub(crate) struct Subs<T> {
    index: HashMap<SubmissionId, u32, IdHash>,
    list: Vec<(SubmissionId, T)>,
}

impl<T> Default for Subs<T> {
    fn default() -> Self {
        Self {
            index: HashMap::default(),
            list: Vec::new(),
        }
    }
}

impl<T> Subs<T> {
    pub(crate) fn get(&self, id: &SubmissionId) -> Option<&T> {
        self.index.get(id).map(|&i| &self.list[i as usize].1)
    }

    pub(crate) fn get_mut(&mut self, id: &SubmissionId) -> Option<&mut T> {
        self.index.get(id).map(|&i| &mut self.list[i as usize].1)
    }

    /// Adds `id` with what `value` makes, unless it is there already: then
    /// it keeps what it has and this returns `None`.
    pub(crate) fn add(&mut self, id: SubmissionId, value: impl FnOnce() -> T) -> Option<&mut T> {
        let Entry::Vacant(e) = self.index.entry(id) else {
            return None;
        };
        let i = u32::try_from(self.list.len()).expect("fewer than 2^32 submissions in memory");
        e.insert(i);
        self.list.push((id, value()));
        self.list.last_mut().map(|(_, v)| v)
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(SubmissionId, T)> {
        self.list.iter()
    }

    /// Every submission, in id order (primary-key order).
    pub(crate) fn into_sorted(self) -> Vec<(SubmissionId, T)> {
        let mut list = self.list;
        // Stable: it finds the long ascending runs a log makes in linear time.
        list.sort_by_key(|(id, _)| *id);
        list
    }
}

/// A submission as the ranking knows it: its current verdict and where in
/// the log that verdict was.
#[derive(Debug, Clone, Copy)]
struct Sub {
    problem: ProblemId,
    user: UserId,
    created_at: i64,
    accepted: bool,
    runtime: i64,
    memory: i64,
    at: Pos,
}

const SUB_COLUMNS: [&str; 9] = [
    "submission_id",
    "problem_id",
    "user_id",
    "created_at",
    "accepted",
    "runtime_ms",
    "memory_kb",
    "verdict_tx",
    "verdict_seq",
];

const BEST_COLUMNS: [&str; 6] = [
    "problem_id",
    "user_id",
    "submission_id",
    "runtime_ms",
    "memory_kb",
    "submitted_at",
];

/// A run: (runtime, memory, submitted at, submission id), the ranking
/// order, smallest best.
type Run = (i64, i64, i64, SubmissionId);

/// A user on a problem: whose best run `ranking_best` keeps.
type Pair = (ProblemId, UserId);

impl Sub {
    /// Takes `verdict`, recorded at `at`, unless the verdict it has is as
    /// new; returns the submission as it was when it took it.
    fn judge(&mut self, verdict: &Verdict, at: Pos) -> Option<Sub> {
        if at <= self.at {
            return None;
        }
        let before = *self;
        self.accepted = verdict.kind == VerdictKind::Accepted;
        self.runtime = verdict.runtime_ms as i64;
        self.memory = verdict.memory_kb as i64;
        self.at = at;
        Some(before)
    }

    fn pair(&self) -> Pair {
        (self.problem, self.user)
    }

    fn run(&self, id: SubmissionId) -> Run {
        (self.runtime, self.memory, self.created_at, id)
    }

    fn row(&self, id: SubmissionId) -> Vec<V> {
        vec![
            uuid_text(&id.0),
            uuid_text(&self.problem.0),
            uuid_text(&self.user.0),
            self.created_at.into(),
            (self.accepted as i64).into(),
            self.runtime.into(),
            self.memory.into(),
            self.at.0.into(),
            self.at.1.into(),
        ]
    }
}

fn sub_from(row: &sqlx::any::AnyRow) -> Result<(SubmissionId, Sub)> {
    Ok((
        parse("submission_id", &text(row, 0)?)?,
        Sub {
            problem: parse("problem_id", &text(row, 1)?)?,
            user: parse("user_id", &text(row, 2)?)?,
            created_at: int(row, 3)?,
            accepted: int(row, 4)? == 1,
            runtime: int(row, 5)?,
            memory: int(row, 6)?,
            at: (int(row, 7)?, int(row, 8)?),
        },
    ))
}

/// What an event did to a submission.
enum Change {
    Created(SubmissionId),
    /// A newer verdict: the submission before it and after.
    Judged(SubmissionId, Sub, Sub),
}

/// Applies one event to `subs`, which holds every submission it may
/// concern, and tells `changed` what it did: the batch path and the
/// rebuild's fold both go through here, so they agree on what an event
/// does. A submission is created once (a re-delivered creation changes
/// nothing); a verdict applies only if newer than the one it has; a
/// rejudge request counts for nothing until its verdict comes.
fn apply(subs: &mut Subs<Sub>, envelope: &Envelope, mut changed: impl FnMut(Change)) -> Result<()> {
    let Event::Submission(event) = &envelope.event else {
        return Ok(());
    };
    match event {
        SubmissionEvent::SubmissionRejudgeRequested { .. } => {}
        SubmissionEvent::SubmissionCreated {
            submission_id,
            user_id,
            problem_id,
            at,
            ..
        } => {
            let created = subs.add(*submission_id, || Sub {
                problem: *problem_id,
                user: *user_id,
                created_at: micros(*at),
                accepted: false,
                runtime: 0,
                memory: 0,
                at: NO_POS,
            });
            if created.is_some() {
                changed(Change::Created(*submission_id));
            }
        }
        SubmissionEvent::SubmissionJudged {
            submission_id,
            verdict,
            ..
        } => {
            let sub = subs
                .get_mut(submission_id)
                .ok_or_else(|| never_created(*submission_id))?;
            if let Some(before) = sub.judge(verdict, pos(envelope.cursor)) {
                changed(Change::Judged(*submission_id, before, *sub));
            }
        }
    }
    Ok(())
}

/// Each user's best accepted run per problem, among `subs`.
fn best_runs<'a>(
    subs: impl IntoIterator<Item = &'a (SubmissionId, Sub)>,
) -> HashMap<Pair, Run, IdHash> {
    let mut best: HashMap<Pair, Run, IdHash> = HashMap::default();
    for (id, s) in subs.into_iter().filter(|(_, s)| s.accepted) {
        let run = s.run(*id);
        match best.entry(s.pair()) {
            Entry::Occupied(mut e) => {
                if run < *e.get() {
                    e.insert(run);
                }
            }
            Entry::Vacant(e) => {
                e.insert(run);
            }
        }
    }
    best
}

fn best_row((problem, user): &Pair, (runtime, memory, submitted_at, id): &Run) -> Vec<V> {
    vec![
        uuid_text(&problem.0),
        uuid_text(&user.0),
        uuid_text(&id.0),
        (*runtime).into(),
        (*memory).into(),
        (*submitted_at).into(),
    ]
}

fn pair_key((problem, user): &Pair) -> Vec<V> {
    vec![uuid_text(&problem.0), uuid_text(&user.0)]
}

/// Folds a batch in memory: submissions and their current verdicts, the
/// distribution counts moved by deltas, and each touched user's best run,
/// recomputed from all their accepted runs when one of those was taken
/// back by a rejudge.
#[tracing::instrument(skip_all, fields(events = events.len()))]
async fn fold(conn: &mut AnyConnection, events: &[Envelope]) -> Result<()> {
    let ids: BTreeSet<SubmissionId> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Submission(
                SubmissionEvent::SubmissionCreated { submission_id, .. }
                | SubmissionEvent::SubmissionJudged { submission_id, .. },
            ) => Some(*submission_id),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let select = format!(
        "SELECT {} FROM ranking_submissions WHERE",
        SUB_COLUMNS.join(", ")
    );
    let id_keys: Vec<Vec<V>> = ids.iter().map(|id| vec![uuid_text(&id.0)]).collect();
    let mut subs: Subs<Sub> = Subs::default();
    for row in select_in(conn, &select, &["submission_id"], &id_keys).await? {
        let (id, sub) = sub_from(&row)?;
        subs.add(id, || sub);
    }
    let mut dirty: BTreeSet<SubmissionId> = BTreeSet::new();
    let mut runtimes: BTreeMap<(ProblemId, i64), i64> = BTreeMap::new();
    let mut memory: BTreeMap<(ProblemId, i64), i64> = BTreeMap::new();
    // Per (problem, user) touched: whether an accepted run was taken back.
    let mut touched: BTreeMap<Pair, bool> = BTreeMap::new();
    for envelope in events {
        apply(&mut subs, envelope, |change| match change {
            Change::Created(id) => {
                dirty.insert(id);
            }
            Change::Judged(id, before, after) => {
                dirty.insert(id);
                if before.accepted {
                    *runtimes
                        .entry((before.problem, before.runtime))
                        .or_default() -= 1;
                    *memory.entry((before.problem, before.memory)).or_default() -= 1;
                    touched.insert(before.pair(), true);
                }
                if after.accepted {
                    *runtimes.entry((after.problem, after.runtime)).or_default() += 1;
                    *memory.entry((after.problem, after.memory)).or_default() += 1;
                    touched.entry(after.pair()).or_insert(false);
                }
            }
        })?;
    }

    if !dirty.is_empty() {
        let rows: Vec<Vec<V>> = dirty
            .iter()
            .filter_map(|id| subs.get(id).map(|s| s.row(*id)))
            .collect();
        insert(
            conn,
            &format!(
                "INSERT INTO ranking_submissions ({})",
                SUB_COLUMNS.join(", ")
            ),
            &replace_others(&SUB_COLUMNS, &["submission_id"]),
            &rows,
        )
        .await?;
    }
    write_counts(conn, "ranking_runtimes", "runtime_ms", &runtimes).await?;
    write_counts(conn, "ranking_memory", "memory_kb", &memory).await?;
    if touched.is_empty() {
        return Ok(());
    }

    // Best runs of the touched users.
    let pair_keys: Vec<Vec<V>> = touched.keys().map(pair_key).collect();
    let mut best: HashMap<Pair, Run> = HashMap::new();
    for row in select_in(
        conn,
        "SELECT problem_id, user_id, runtime_ms, memory_kb, submitted_at, submission_id FROM ranking_best WHERE",
        &["problem_id", "user_id"],
        &pair_keys,
    )
    .await?
    {
        best.insert(
            (
                parse("problem_id", &text(&row, 0)?)?,
                parse("user_id", &text(&row, 1)?)?,
            ),
            (
                int(&row, 2)?,
                int(&row, 3)?,
                int(&row, 4)?,
                parse("submission_id", &text(&row, 5)?)?,
            ),
        );
    }
    let taken_back: Vec<Vec<V>> = touched
        .iter()
        .filter(|(_, taken)| **taken)
        .map(|(pair, _)| pair_key(pair))
        .collect();
    if !taken_back.is_empty() {
        // Every run of those users on those problems: the best is chosen again.
        for row in select_in(conn, &select, &["problem_id", "user_id"], &taken_back).await? {
            let (id, sub) = sub_from(&row)?;
            subs.add(id, || sub);
        }
    }
    let candidates = best_runs(subs.iter());
    let (mut upserts, mut deletes) = (vec![], vec![]);
    for (pair, taken) in &touched {
        let stored = best.get(pair);
        let new = if *taken {
            candidates.get(pair)
        } else {
            [stored, candidates.get(pair)].into_iter().flatten().min()
        };
        if new == stored {
            continue;
        }
        match new {
            Some(run) => upserts.push(best_row(pair, run)),
            None => deletes.push(pair_key(pair)),
        }
    }
    if !upserts.is_empty() {
        insert(
            conn,
            &format!("INSERT INTO ranking_best ({})", BEST_COLUMNS.join(", ")),
            &replace_others(&BEST_COLUMNS, &["problem_id", "user_id"]),
            &upserts,
        )
        .await?;
    }
    if !deletes.is_empty() {
        delete_in(
            conn,
            "DELETE FROM ranking_best WHERE",
            &["problem_id", "user_id"],
            &deletes,
        )
        .await?;
    }
    Ok(())
}

fn count_row(problem: &ProblemId, value: i64, accepted: i64) -> Vec<V> {
    vec![uuid_text(&problem.0), value.into(), accepted.into()]
}

/// Moves `(problem, value) -> accepted` counts by deltas; a count that
/// reaches zero takes its row with it.
async fn write_counts(
    conn: &mut AnyConnection,
    table: &str,
    column: &str,
    deltas: &BTreeMap<(ProblemId, i64), i64>,
) -> Result<()> {
    let rows: Vec<Vec<V>> = deltas
        .iter()
        .filter(|(_, d)| **d != 0)
        .map(|((p, v), d)| count_row(p, *v, *d))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let columns = ["problem_id", column, "accepted"];
    insert(
        conn,
        &format!("INSERT INTO {table} ({})", columns.join(", ")),
        &add_others(table, &columns, &["problem_id", column]),
        &rows,
    )
    .await?;
    let fell: Vec<Vec<V>> = deltas
        .iter()
        .filter(|(_, d)| **d < 0)
        .map(|((p, v), _)| vec![uuid_text(&p.0), (*v).into()])
        .collect();
    if !fell.is_empty() {
        delete_in(
            conn,
            &format!("DELETE FROM {table} WHERE accepted = 0 AND"),
            &["problem_id", column],
            &fell,
        )
        .await?;
    }
    Ok(())
}

/// The whole projection folded in memory for a rebuild: every submission
/// with its current verdict. Best runs and distributions are derived from
/// those when written, as the batch path keeps them: a best row per user
/// and problem with an accepted run, a count per value with accepted runs.
#[derive(Debug, Default)]
struct RankingFold {
    subs: Subs<Sub>,
}

impl Fold for RankingFold {
    fn fold(&mut self, events: &[Envelope]) -> Result<()> {
        for envelope in events {
            // What changed is in the submissions already.
            apply(&mut self.subs, envelope, |_| {})?;
        }
        Ok(())
    }

    fn rows(&self) -> usize {
        // Best runs and distribution counts, derived on writing, are at most
        // one per accepted submission each, and usually far fewer.
        self.subs.len()
    }

    fn write<'a>(&'a mut self, conn: &'a mut dyn Sink) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let subs = std::mem::take(&mut self.subs).into_sorted();
            insert_all(
                conn,
                &format!(
                    "INSERT INTO ranking_submissions ({})",
                    SUB_COLUMNS.join(", ")
                ),
                &mut subs.iter().map(|(id, s)| s.row(*id)),
            )
            .await?;

            let mut best: Vec<(Pair, Run)> = best_runs(&subs).into_iter().collect();
            best.sort_unstable_by_key(|(pair, _)| *pair);
            insert_all(
                conn,
                &format!("INSERT INTO ranking_best ({})", BEST_COLUMNS.join(", ")),
                &mut best.iter().map(|(pair, run)| best_row(pair, run)),
            )
            .await?;
            drop(best);

            let accepted: Vec<&Sub> = subs.iter().map(|(_, s)| s).filter(|s| s.accepted).collect();
            for (table, column, value) in [
                (
                    "ranking_runtimes",
                    "runtime_ms",
                    (|s: &Sub| s.runtime) as fn(&Sub) -> i64,
                ),
                ("ranking_memory", "memory_kb", |s: &Sub| s.memory),
            ] {
                let mut counts: HashMap<(ProblemId, i64), i64, IdHash> = HashMap::default();
                for s in &accepted {
                    *counts.entry((s.problem, value(s))).or_default() += 1;
                }
                let mut counts: Vec<((ProblemId, i64), i64)> = counts.into_iter().collect();
                counts.sort_unstable_by_key(|(key, _)| *key);
                insert_all(
                    conn,
                    &format!("INSERT INTO {table} (problem_id, {column}, accepted)"),
                    &mut counts.iter().map(|((p, v), n)| count_row(p, *v, *n)),
                )
                .await?;
            }
            Ok(())
        })
    }
}

/// One row of a problem's ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingEntry {
    /// 1-based position in the whole ranking, not just this page.
    pub rank: i64,
    pub user_id: UserId,
    pub username: String,
    pub submission_id: SubmissionId,
    pub runtime_ms: i64,
    pub memory_kb: i64,
    pub submitted_at: DateTime<Utc>,
    /// Pass as `after` to get the entries that follow this one.
    pub cursor: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub entries: Vec<T>,
    pub has_next_page: bool,
}

/// Where a ranking page starts: the sort key of the last entry seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    runtime_ms: i64,
    memory_kb: i64,
    submitted_at: i64,
    user_id: String,
}

impl Key {
    fn encode(&self) -> String {
        format!(
            "r:{}:{}:{}:{}",
            self.runtime_ms, self.memory_kb, self.submitted_at, self.user_id
        )
    }

    fn decode(s: &str) -> Option<Self> {
        let mut it = s.strip_prefix("r:")?.splitn(4, ':');
        Some(Self {
            runtime_ms: it.next()?.parse().ok()?,
            memory_kb: it.next()?.parse().ok()?,
            submitted_at: it.next()?.parse().ok()?,
            user_id: it.next()?.parse::<UserId>().ok()?.to_string(),
        })
    }
}

/// A cursor this module did not make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`after` is not a cursor from this list")]
pub struct BadCursor;

/// The problem's ranking from just after `after` (a cursor from an earlier
/// page), `first` entries at most.
pub async fn problem_ranking(
    db: &ReadDb,
    problem: ProblemId,
    first: i64,
    after: Option<&str>,
) -> Result<std::result::Result<Page<RankingEntry>, BadCursor>> {
    let key = match after.map(Key::decode) {
        Some(None) => return Ok(Err(BadCursor)),
        Some(Some(k)) => Some(k),
        None => None,
    };
    let (has, k) = match &key {
        Some(k) => (1i64, k.clone()),
        None => (
            0,
            Key {
                runtime_ms: 0,
                memory_kb: 0,
                submitted_at: 0,
                user_id: String::new(),
            },
        ),
    };
    // Deactivated users are not listed (see `leaderboard::LISTED`).
    const LISTED: &str =
        "NOT EXISTS (SELECT 1 FROM users d WHERE d.user_id = b.user_id AND d.active = 0)";
    // Rows strictly after the key in ranking order.
    const AFTER: &str = "($2 = 0 OR b.runtime_ms > $3 OR (b.runtime_ms = $3 AND (b.memory_kb > $4 \
         OR (b.memory_kb = $4 AND (b.submitted_at > $5 OR (b.submitted_at = $5 AND b.user_id > $6))))))";
    let ahead: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM ranking_best b WHERE b.problem_id = $1 AND $2 = 1 AND NOT {AFTER} AND {LISTED}"
    )))
    .bind(problem.to_string())
    .bind(has)
    .bind(k.runtime_ms)
    .bind(k.memory_kb)
    .bind(k.submitted_at)
    .bind(&k.user_id)
    .fetch_one(&db.pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT b.user_id, COALESCE(u.username, '') AS username, b.submission_id, b.runtime_ms, b.memory_kb, b.submitted_at \
         FROM ranking_best b LEFT JOIN users u ON u.user_id = b.user_id \
         WHERE b.problem_id = $1 AND {AFTER} AND {LISTED} \
         ORDER BY b.runtime_ms, b.memory_kb, b.submitted_at, b.user_id LIMIT $7"
    )))
    .bind(problem.to_string())
    .bind(has)
    .bind(k.runtime_ms)
    .bind(k.memory_kb)
    .bind(k.submitted_at)
    .bind(&k.user_id)
    .bind(first + 1)
    .fetch_all(&db.pool)
    .await?;
    let has_next_page = rows.len() as i64 > first;
    let entries = rows
        .iter()
        .take(first as usize)
        .enumerate()
        .map(|(i, row)| {
            let user_id: String = row.try_get("user_id")?;
            let key = Key {
                runtime_ms: row.try_get("runtime_ms")?,
                memory_kb: row.try_get("memory_kb")?,
                submitted_at: row.try_get("submitted_at")?,
                user_id: user_id.clone(),
            };
            Ok(RankingEntry {
                rank: ahead + i as i64 + 1,
                user_id: parse("user_id", &user_id)?,
                username: row.try_get("username")?,
                submission_id: parse("submission_id", &row.try_get::<String, _>("submission_id")?)?,
                runtime_ms: key.runtime_ms,
                memory_kb: key.memory_kb,
                submitted_at: from_micros(key.submitted_at),
                cursor: key.encode(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Ok(Page {
        entries,
        has_next_page,
    }))
}

/// Where an accepted submission stands among all accepted submissions of
/// its problem (its own included), in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Share of accepted submissions strictly slower than this one.
    pub runtime: f64,
    /// Share of accepted submissions with a strictly larger memory peak.
    pub memory: f64,
}

/// `None` when the problem has no accepted submission yet in the read model.
pub async fn percentiles(
    db: &ReadDb,
    problem: ProblemId,
    runtime_ms: i64,
    memory_kb: i64,
) -> Result<Option<Percentiles>> {
    Ok(runtime_percentile(db, problem, runtime_ms)
        .await?
        .zip(memory_percentile(db, problem, memory_kb).await?)
        .map(|(runtime, memory)| Percentiles { runtime, memory }))
}

/// Share of the problem's accepted submissions strictly slower than `runtime_ms`.
pub async fn runtime_percentile(
    db: &ReadDb,
    problem: ProblemId,
    runtime_ms: i64,
) -> Result<Option<f64>> {
    let (slower, total): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN runtime_ms > $2 THEN accepted ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(accepted), 0) AS BIGINT) FROM ranking_runtimes WHERE problem_id = $1",
    )
    .bind(problem.to_string())
    .bind(runtime_ms)
    .fetch_one(&db.pool)
    .await?;
    Ok(share_above(slower, total))
}

/// Share of the problem's accepted submissions with a strictly larger memory peak.
pub async fn memory_percentile(
    db: &ReadDb,
    problem: ProblemId,
    memory_kb: i64,
) -> Result<Option<f64>> {
    let (bigger, total): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN memory_kb > $2 THEN accepted ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(accepted), 0) AS BIGINT) FROM ranking_memory WHERE problem_id = $1",
    )
    .bind(problem.to_string())
    .bind(memory_kb)
    .fetch_one(&db.pool)
    .await?;
    Ok(share_above(bigger, total))
}

/// Runtime (ms) and memory (KiB) distributions of a problem's accepted
/// submissions.
pub async fn distributions(
    db: &ReadDb,
    problem: ProblemId,
) -> Result<(Distribution, Distribution)> {
    let runtimes: Vec<(i64, i64)> =
        sqlx::query_as("SELECT runtime_ms, accepted FROM ranking_runtimes WHERE problem_id = $1")
            .bind(problem.to_string())
            .fetch_all(&db.pool)
            .await?;
    let memory: Vec<(i64, i64)> =
        sqlx::query_as("SELECT memory_kb, accepted FROM ranking_memory WHERE problem_id = $1")
            .bind(problem.to_string())
            .fetch_all(&db.pool)
            .await?;
    Ok((
        Distribution::from_counts(runtimes),
        Distribution::from_counts(memory),
    ))
}

/// Every problem's runtime and memory distributions (admin analytics).
pub async fn all_distributions(
    db: &ReadDb,
) -> Result<std::collections::HashMap<ProblemId, (Distribution, Distribution)>> {
    type Counts = Vec<(i64, i64)>;
    let mut acc: std::collections::HashMap<ProblemId, (Counts, Counts)> = Default::default();
    let runtimes: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT problem_id, runtime_ms, accepted FROM ranking_runtimes")
            .fetch_all(&db.pool)
            .await?;
    for (p, v, n) in runtimes {
        acc.entry(parse("problem_id", &p)?)
            .or_default()
            .0
            .push((v, n));
    }
    let memory: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT problem_id, memory_kb, accepted FROM ranking_memory")
            .fetch_all(&db.pool)
            .await?;
    for (p, v, n) in memory {
        acc.entry(parse("problem_id", &p)?)
            .or_default()
            .1
            .push((v, n));
    }
    Ok(acc
        .into_iter()
        .map(|(p, (r, m))| {
            (
                p,
                (Distribution::from_counts(r), Distribution::from_counts(m)),
            )
        })
        .collect())
}

/// Whether `submission` is now its author's best on `problem`, i.e. its
/// verdict moved the problem's ranking.
pub async fn is_best(db: &ReadDb, problem: ProblemId, submission: SubmissionId) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM ranking_best WHERE problem_id = $1 AND submission_id = $2",
    )
    .bind(problem.to_string())
    .bind(submission.to_string())
    .fetch_optional(&db.pool)
    .await?;
    Ok(found.is_some())
}

/// Checks that a projection's fold, written into empty tables, leaves what
/// its batch path leaves, on pseudo-random histories; problem_stats shares
/// these.
#[cfg(test)]
pub(crate) mod fold_check {
    use chrono::TimeZone;
    use domain::submission::{SubmissionEvent, Verdict, VerdictKind};
    use domain::{Event, ProblemId, RejudgeId, SubmissionId, UserId};
    use sqlx::pool::PoolConnection;
    use sqlx::{Any, AnyConnection, Column, Row};
    use store::Cursor;
    use uuid::Uuid;

    use crate::{Envelope, Error, Projection, ReadDb};

    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
        }

        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    fn envelope(log: &[Envelope], rng: &mut Rng, event: SubmissionEvent) -> Envelope {
        Envelope {
            // Strictly increasing, as the log's are, with seq varying.
            cursor: Cursor {
                tx: log.len() as u64 + 1,
                seq: rng.below(3),
            },
            stream: "s".into(),
            recorded_at: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            event: Event::Submission(event),
        }
    }

    /// Submissions of a few users on a few problems, with ids in no
    /// particular order and times, runtimes and memory peaks that often tie;
    /// verdicts, rejudge requests and rejudges (back and forth between
    /// accepted and not), and creations delivered again.
    pub(crate) fn history(seed: u64, len: usize) -> Vec<Envelope> {
        let mut rng = Rng::new(seed);
        let users: Vec<UserId> = (1..=4).map(|i| UserId(Uuid::from_u128(i << 64))).collect();
        let problems: Vec<ProblemId> = (1..=3)
            .map(|i| ProblemId(Uuid::from_u128(i << 100)))
            .collect();
        let kinds = [
            VerdictKind::Accepted,
            VerdictKind::Accepted,
            VerdictKind::WrongAnswer,
            VerdictKind::InternalError,
            VerdictKind::TimeLimitExceeded,
            VerdictKind::CompileError,
        ];
        let mut created: Vec<SubmissionEvent> = vec![];
        let mut log: Vec<Envelope> = vec![];
        while log.len() < len {
            let roll = rng.below(10);
            let event = if created.is_empty() || roll < 3 {
                let event = SubmissionEvent::SubmissionCreated {
                    submission_id: SubmissionId(Uuid::from_u128(
                        ((rng.below(1 << 30) as u128) << 90) | created.len() as u128,
                    )),
                    user_id: users[rng.below(users.len() as u64) as usize],
                    problem_id: problems[rng.below(problems.len() as u64) as usize],
                    problem_slug: "p".into(),
                    problem_version: 1,
                    language: "python3".into(),
                    code: String::new(),
                    at: chrono::Utc
                        .timestamp_opt(1_700_000_000 + rng.below(4) as i64, 0)
                        .unwrap(),
                };
                created.push(event.clone());
                event
            } else {
                let SubmissionEvent::SubmissionCreated {
                    submission_id,
                    user_id,
                    problem_id,
                    at,
                    ..
                } = created[rng.below(created.len() as u64) as usize].clone()
                else {
                    unreachable!("only creations are kept")
                };
                match roll {
                    3 => created[rng.below(created.len() as u64) as usize].clone(),
                    4 => SubmissionEvent::SubmissionRejudgeRequested {
                        submission_id,
                        user_id,
                        problem_id,
                        problem_slug: "p".into(),
                        rejudge_id: RejudgeId(Uuid::from_u128(7)),
                        problem_version: 1,
                        previous_verdict: VerdictKind::Accepted,
                        at,
                    },
                    _ => SubmissionEvent::SubmissionJudged {
                        submission_id,
                        user_id,
                        problem_id,
                        problem_slug: "p".into(),
                        problem_version: 1,
                        verdict: Verdict {
                            kind: kinds[rng.below(kinds.len() as u64) as usize],
                            passed: 0,
                            total: 0,
                            runtime_ms: 10 + rng.below(3) as u32,
                            memory_kb: 100 + rng.below(3),
                            tests: vec![],
                            failed_example: None,
                            message: None,
                        },
                        at,
                        rejudge_id: None,
                    },
                }
            };
            log.push(envelope(&log, &mut rng, event));
        }
        log
    }

    /// Every row of every table of `projection`, sorted, as text.
    async fn dump(conn: &mut AnyConnection, projection: &dyn Projection) -> Vec<Vec<String>> {
        let mut out = vec![];
        for table in projection.tables() {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
            let mut rows: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    let mut cells = vec![table.to_string()];
                    for (i, column) in row.columns().iter().enumerate() {
                        let value = match row.try_get::<Option<i64>, _>(i) {
                            Ok(v) => format!("{v:?}"),
                            Err(_) => format!("{:?}", row.try_get::<Option<String>, _>(i).unwrap()),
                        };
                        cells.push(format!("{}={value}", column.name()));
                    }
                    cells
                })
                .collect();
            rows.sort();
            out.extend(rows);
        }
        out
    }

    /// The projection's tables, emptied.
    async fn empty(db: &ReadDb, projection: &dyn Projection) -> PoolConnection<Any> {
        let mut conn = db.pool.acquire().await.unwrap();
        for table in projection.tables() {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        conn
    }

    async fn batched(
        db: &ReadDb,
        projection: &dyn Projection,
        log: &[Envelope],
        rng: &mut Rng,
    ) -> Result<Vec<Vec<String>>, Error> {
        let mut conn = empty(db, projection).await;
        let mut done = 0;
        while done < log.len() {
            let end = log.len().min(done + 1 + rng.below(30) as usize);
            projection.apply_batch(&mut conn, &log[done..end]).await?;
            if rng.below(4) == 0 {
                // Delivered again, from somewhere before: at least once.
                let from = rng.below(end as u64 + 1) as usize;
                projection.apply_batch(&mut conn, &log[from..end]).await?;
            }
            done = end;
        }
        Ok(dump(&mut conn, projection).await)
    }

    async fn folded(
        db: &ReadDb,
        projection: &dyn Projection,
        log: &[Envelope],
        rng: &mut Rng,
    ) -> Result<Vec<Vec<String>>, Error> {
        let mut conn = empty(db, projection).await;
        let mut fold = projection.fold().expect("a fold");
        for part in log.chunks(1 + rng.below(50) as usize) {
            fold.fold(part)?;
        }
        assert!(fold.rows() <= log.len());
        fold.write(&mut *conn).await?;
        Ok(dump(&mut conn, projection).await)
    }

    /// Folding any prefix of many histories and writing it leaves what
    /// applying that prefix in batches (some delivered twice) leaves; and
    /// a verdict for a submission never created fails both the same way.
    pub(crate) async fn fold_equals_batches(projection: &dyn Projection) {
        let (left, right) = (
            ReadDb::open_memory().await.unwrap(),
            ReadDb::open_memory().await.unwrap(),
        );
        for seed in 0..20 {
            let log = history(seed, 400);
            let mut rng = Rng::new(seed + 1000);
            for len in [0, 1, 2, 7, 40, 1 + rng.below(399) as usize, 400] {
                let prefix = &log[..len];
                let want = batched(&left, projection, prefix, &mut rng).await.unwrap();
                let got = folded(&right, projection, prefix, &mut rng).await.unwrap();
                assert_eq!(got, want, "seed {seed}, the first {len} events");
                if len == 400 {
                    assert!(
                        want.iter().filter(|r| r[0] != want[0][0]).count() > 0,
                        "tables beside the submissions' have rows"
                    );
                }
            }
            let mut orphan = log[..50].to_vec();
            let mut verdict = log
                .iter()
                .find(|e| {
                    matches!(
                        e.event,
                        Event::Submission(SubmissionEvent::SubmissionJudged { .. })
                    )
                })
                .unwrap()
                .clone();
            if let Event::Submission(SubmissionEvent::SubmissionJudged { submission_id, .. }) =
                &mut verdict.event
            {
                *submission_id = SubmissionId(Uuid::from_u128(u128::MAX));
            }
            verdict.cursor = Cursor { tx: 10_000, seq: 0 };
            orphan.push(verdict);
            let want = batched(&left, projection, &orphan, &mut rng).await;
            let got = folded(&right, projection, &orphan, &mut rng).await;
            assert!(
                matches!(
                    (&want, &got),
                    (Err(Error::Corrupt(a)), Err(Error::Corrupt(b))) if a == b
                ),
                "{want:?} {got:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_ranking_folded_equals_the_ranking_applied_in_batches() {
        fold_equals_batches(&super::Ranking).await;
    }
}
