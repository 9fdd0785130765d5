-- Rejudges: a submission can be judged again, and its latest verdict (by
-- position in the log) replaces the earlier one in every read model.
-- Each projection's per-submission row now keeps the verdict it currently
-- counts and the log position of that verdict (`verdict_tx`, `verdict_seq`;
-- 0, 0 before any verdict). A verdict is applied only if it is newer than the
-- one the row holds, so re-applying any event changes nothing, and counters
-- move by "take the old verdict's share out, put the new one's in".
--
-- The tables of the projections concerned are recreated empty and their
-- checkpoints removed: they are rebuilt from the log when the runner starts.

ALTER TABLE submissions ADD COLUMN judged_version BIGINT;
ALTER TABLE submissions ADD COLUMN verdict_tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE submissions ADD COLUMN verdict_seq BIGINT NOT NULL DEFAULT 0;
DELETE FROM submissions;

DROP TABLE ranking_submissions;
CREATE TABLE ranking_submissions (
    submission_id TEXT PRIMARY KEY,
    problem_id    TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    accepted      BIGINT NOT NULL,
    runtime_ms    BIGINT NOT NULL,
    memory_kb     BIGINT NOT NULL,
    verdict_tx    BIGINT NOT NULL,
    verdict_seq   BIGINT NOT NULL
);
CREATE INDEX ranking_submissions_pair ON ranking_submissions (problem_id, user_id);
DELETE FROM ranking_best;
DELETE FROM ranking_runtimes;
DELETE FROM ranking_memory;

DROP TABLE leaderboard_submissions;
CREATE TABLE leaderboard_submissions (
    submission_id TEXT PRIMARY KEY,
    user_id       TEXT   NOT NULL,
    problem_id    TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    accepted      BIGINT NOT NULL,
    verdict_tx    BIGINT NOT NULL,
    verdict_seq   BIGINT NOT NULL
);
CREATE INDEX leaderboard_submissions_pair ON leaderboard_submissions (user_id, problem_id);
DELETE FROM leaderboard_problems;
DELETE FROM leaderboard_solves;
DELETE FROM leaderboard;

ALTER TABLE profile_submissions ADD COLUMN verdict_tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE profile_submissions ADD COLUMN verdict_seq BIGINT NOT NULL DEFAULT 0;
DELETE FROM profile_submissions;
DELETE FROM profile_stats;
DELETE FROM profile_days;

-- `problem_stats_users.accepted` counts the user's currently accepted
-- submissions of the problem: a solver is a user with at least one.
DROP TABLE problem_stats_submissions;
CREATE TABLE problem_stats_submissions (
    submission_id TEXT PRIMARY KEY,
    problem_id    TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    verdict       TEXT,
    verdict_tx    BIGINT NOT NULL,
    verdict_seq   BIGINT NOT NULL
);
DROP TABLE problem_stats_users;
CREATE TABLE problem_stats_users (
    problem_id TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    accepted   BIGINT NOT NULL,
    PRIMARY KEY (problem_id, user_id)
);
DELETE FROM problem_stats;
DELETE FROM problem_stats_verdicts;

DROP TABLE analytics_submissions;
CREATE TABLE analytics_submissions (
    submission_id TEXT PRIMARY KEY,
    user_id       TEXT   NOT NULL,
    day           BIGINT NOT NULL,
    verdict       TEXT,
    verdict_tx    BIGINT NOT NULL,
    verdict_seq   BIGINT NOT NULL
);
DELETE FROM analytics_days;
DELETE FROM analytics_day_users;
DELETE FROM analytics_day_verdicts;
DELETE FROM analytics_playground_runs;

DELETE FROM projection_checkpoints
 WHERE name IN ('submissions', 'ranking', 'leaderboard', 'profiles', 'problem_stats', 'analytics');
