//! What the projections' in-memory folds share. A batch path folds its
//! batch over the rows it read back, and a rebuild's [`Fold`](crate::Fold)
//! folds the whole log, millions of events, so both are built for speed
//! over the ids the server makes (time-ordered or random, never chosen by a
//! client): a cheap hasher for them, a compact index of submissions, and
//! their text written without `Display`. What a submission event does to
//! the submissions a fold holds is decided here once, so that every fold
//! and its batch path agree on it.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use domain::submission::{SubmissionEvent, Verdict};
use domain::{Event, ProblemId, SubmissionId, UserId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::batch::{Pos, V, insert, insert_all, pos, replace_others, select_in, text};
use crate::queries::parse;
use crate::{Envelope, Result, Sink, micros, never_created};

/// The id's text as rows store it (hyphenated, lowercase), without going
/// through `Display`'s formatting machinery: writes make millions of these.
pub(crate) fn uuid_text(id: &uuid::Uuid) -> V {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    V::T(id.hyphenated().encode_lower(&mut buf).to_owned())
}

/// Hashes the folds' keys: ids the server made and small tuples of them
/// (with day numbers and the like), for which a folded multiply mixes well
/// enough and costs a fraction of SipHash.
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

    /// Adds the rows of `table` whose `key` columns are among `keys`, each
    /// submission as `from_row` reads it from the table's columns (one held
    /// already keeps what it has).
    pub(crate) async fn read(
        &mut self,
        conn: &mut AnyConnection,
        table: &SubTable,
        key: &[&str],
        keys: &[Vec<V>],
        mut from_row: impl FnMut(&AnyRow) -> Result<T>,
    ) -> Result<()> {
        for row in select_in(conn, &table.select(), key, keys).await? {
            let id = parse("submission_id", &text(&row, 0)?)?;
            let sub = from_row(&row)?;
            self.add(id, || sub);
        }
        Ok(())
    }
}

/// A projection's table of submissions: its name, and its columns, keyed
/// by the first (`submission_id`).
pub(crate) struct SubTable {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [&'static str],
}

impl SubTable {
    /// `SELECT` every column `FROM` it `WHERE`, for [`select_in`].
    pub(crate) fn select(&self) -> String {
        format!(
            "SELECT {} FROM {} WHERE",
            self.columns.join(", "),
            self.name
        )
    }

    fn head(&self) -> String {
        format!("INSERT INTO {} ({})", self.name, self.columns.join(", "))
    }

    /// Writes `rows` over the stored ones: what a batch changed.
    pub(crate) async fn upsert(&self, conn: &mut AnyConnection, rows: &[Vec<V>]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let tail = replace_others(self.columns, &self.columns[..1]);
        insert(conn, &self.head(), &tail, rows).await
    }

    /// Writes every row `rows` yields into the empty table: a rebuild's.
    pub(crate) async fn insert_all(
        &self,
        sink: &mut dyn Sink,
        rows: &mut (dyn Iterator<Item = Vec<V>> + Send),
    ) -> Result<()> {
        insert_all(sink, &self.head(), rows).await
    }
}

/// The submissions `events` create or judge: those a batch reads back.
pub(crate) fn submission_ids(events: &[Envelope]) -> BTreeSet<SubmissionId> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Submission(
                SubmissionEvent::SubmissionCreated { submission_id, .. }
                | SubmissionEvent::SubmissionJudged { submission_id, .. },
            ) => Some(*submission_id),
            _ => None,
        })
        .collect()
}

/// The single-column keys that select `ids`.
pub(crate) fn id_keys<'a>(ids: impl IntoIterator<Item = &'a SubmissionId>) -> Vec<Vec<V>> {
    ids.into_iter().map(|id| vec![uuid_text(&id.0)]).collect()
}

/// What a submission's creation says that the folds keep.
pub(crate) struct Creation<'a> {
    pub(crate) user: UserId,
    pub(crate) problem: ProblemId,
    pub(crate) slug: &'a str,
    pub(crate) created_at: i64,
}

/// A submission as a fold holds it: what it keeps of its current verdict,
/// and where in the log that verdict was.
pub(crate) trait Judge: Copy {
    /// Where its current verdict was recorded; `NO_POS` before the first.
    fn verdict_at(&mut self) -> &mut Pos;

    /// Keeps what it needs of `verdict`, newer than the one it has.
    fn judge(&mut self, verdict: &Verdict);
}

/// What an event did to a submission.
pub(crate) enum Change<T> {
    Created(SubmissionId, T),
    /// A newer verdict: the submission before it and after.
    Judged(SubmissionId, T, T),
}

impl<T: Judge> Subs<T> {
    /// Applies one event to the submissions, which hold every one it may
    /// concern, and tells `changed` what it did: a projection's batch path
    /// and its rebuild's fold both go through here, so they agree on what
    /// an event does. A submission is created once, by what `create` makes
    /// (a re-delivered creation changes nothing); a verdict applies only if
    /// newer than the one it has; a rejudge request counts for nothing
    /// until its verdict comes.
    pub(crate) fn apply(
        &mut self,
        envelope: &Envelope,
        create: impl FnOnce(&Creation) -> T,
        mut changed: impl FnMut(Change<T>) -> Result<()>,
    ) -> Result<()> {
        let Event::Submission(event) = &envelope.event else {
            return Ok(());
        };
        match event {
            SubmissionEvent::SubmissionRejudgeRequested { .. } => Ok(()),
            SubmissionEvent::SubmissionCreated {
                submission_id,
                user_id,
                problem_id,
                problem_slug,
                at,
                ..
            } => {
                let creation = Creation {
                    user: *user_id,
                    problem: *problem_id,
                    slug: problem_slug,
                    created_at: micros(*at),
                };
                match self.add(*submission_id, || create(&creation)) {
                    Some(sub) => changed(Change::Created(*submission_id, *sub)),
                    None => Ok(()),
                }
            }
            SubmissionEvent::SubmissionJudged {
                submission_id,
                verdict,
                ..
            } => {
                let sub = self
                    .get_mut(submission_id)
                    .ok_or_else(|| never_created(*submission_id))?;
                let at = pos(envelope.cursor);
                if at <= *sub.verdict_at() {
                    return Ok(());
                }
                let before = *sub;
                sub.judge(verdict);
                *sub.verdict_at() = at;
                changed(Change::Judged(*submission_id, before, *sub))
            }
        }
    }

    /// Applies `events` for a rebuild, which derives everything else from
    /// the submissions when it writes.
    pub(crate) fn fold(
        &mut self,
        events: &[Envelope],
        mut create: impl FnMut(&Creation) -> T,
    ) -> Result<()> {
        for envelope in events {
            self.apply(envelope, &mut create, |_| Ok(()))?;
        }
        Ok(())
    }
}
