-- Rankings, leaderboard, profiles, problem stats and admin analytics.
-- Each projection owns the tables named after it and reads no other table
-- while it applies events, so any one of them can be rebuilt on its own.
-- Counters only move when the projection's own per-submission (or per-run)
-- row changed, which makes re-applying an event a no-op.
-- Days are UTC days since 1970-01-01 (BIGINT).

-- `ranking`: each user's best accepted submission per problem, and how many
-- accepted submissions of a problem took each runtime and each memory peak
-- (exact values, so percentiles and histograms are exact).
CREATE TABLE ranking_submissions (
    submission_id TEXT PRIMARY KEY,
    problem_id    TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    judged        BIGINT NOT NULL
);
CREATE TABLE ranking_best (
    problem_id    TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    submission_id TEXT   NOT NULL,
    runtime_ms    BIGINT NOT NULL,
    memory_kb     BIGINT NOT NULL,
    submitted_at  BIGINT NOT NULL,
    PRIMARY KEY (problem_id, user_id)
);
CREATE INDEX ranking_best_order ON ranking_best (problem_id, runtime_ms, memory_kb, submitted_at, user_id);
CREATE TABLE ranking_runtimes (
    problem_id TEXT   NOT NULL,
    runtime_ms BIGINT NOT NULL,
    accepted   BIGINT NOT NULL,
    PRIMARY KEY (problem_id, runtime_ms)
);
CREATE TABLE ranking_memory (
    problem_id TEXT   NOT NULL,
    memory_kb  BIGINT NOT NULL,
    accepted   BIGINT NOT NULL,
    PRIMARY KEY (problem_id, memory_kb)
);

-- `leaderboard`: problems solved, weighted by difficulty (the weight is kept
-- with the problem, so an edit of its difficulty rescores its solvers).
CREATE TABLE leaderboard_problems (
    problem_id TEXT PRIMARY KEY,
    difficulty TEXT   NOT NULL,
    weight     BIGINT NOT NULL
);
CREATE TABLE leaderboard_submissions (
    submission_id TEXT PRIMARY KEY,
    created_at    BIGINT NOT NULL
);
CREATE TABLE leaderboard_solves (
    user_id    TEXT   NOT NULL,
    problem_id TEXT   NOT NULL,
    solved_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, problem_id)
);
CREATE INDEX leaderboard_solves_problem ON leaderboard_solves (problem_id);
CREATE TABLE leaderboard (
    user_id    TEXT PRIMARY KEY,
    score      BIGINT NOT NULL,
    solved     BIGINT NOT NULL,
    easy       BIGINT NOT NULL,
    medium     BIGINT NOT NULL,
    hard       BIGINT NOT NULL,
    reached_at BIGINT NOT NULL
);
CREATE INDEX leaderboard_order ON leaderboard (score DESC, reached_at, user_id);

-- `profiles`: per-user counters, activity per day (heatmap, streaks) and the
-- submissions behind recent activity.
CREATE TABLE profile_submissions (
    submission_id TEXT PRIMARY KEY,
    user_id       TEXT   NOT NULL,
    problem_slug  TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    day           BIGINT NOT NULL,
    verdict       TEXT,
    runtime_ms    BIGINT,
    memory_kb     BIGINT
);
CREATE INDEX profile_submissions_user ON profile_submissions (user_id, created_at);
CREATE TABLE profile_stats (
    user_id     TEXT PRIMARY KEY,
    submissions BIGINT NOT NULL,
    judged      BIGINT NOT NULL,
    accepted    BIGINT NOT NULL
);
CREATE TABLE profile_days (
    user_id     TEXT   NOT NULL,
    day         BIGINT NOT NULL,
    submissions BIGINT NOT NULL,
    accepted    BIGINT NOT NULL,
    PRIMARY KEY (user_id, day)
);

-- `problem_stats`: attempts, acceptance and the verdict mix per problem.
CREATE TABLE problem_stats_submissions (
    submission_id TEXT PRIMARY KEY,
    problem_id    TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    judged        BIGINT NOT NULL
);
CREATE TABLE problem_stats (
    problem_id  TEXT PRIMARY KEY,
    submissions BIGINT NOT NULL,
    judged      BIGINT NOT NULL,
    accepted    BIGINT NOT NULL,
    attempters  BIGINT NOT NULL,
    solvers     BIGINT NOT NULL
);
CREATE TABLE problem_stats_users (
    problem_id TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    solved     BIGINT NOT NULL,
    PRIMARY KEY (problem_id, user_id)
);
CREATE TABLE problem_stats_verdicts (
    problem_id TEXT   NOT NULL,
    verdict    TEXT   NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (problem_id, verdict)
);

-- `analytics` (admins): activity per day, verdicts per day, playground runs.
CREATE TABLE analytics_submissions (
    submission_id TEXT PRIMARY KEY,
    user_id       TEXT   NOT NULL,
    day           BIGINT NOT NULL,
    judged        BIGINT NOT NULL
);
CREATE TABLE analytics_days (
    day             BIGINT PRIMARY KEY,
    submissions     BIGINT NOT NULL,
    judged          BIGINT NOT NULL,
    accepted        BIGINT NOT NULL,
    active_users    BIGINT NOT NULL,
    playground_runs BIGINT NOT NULL
);
CREATE TABLE analytics_day_users (
    day     BIGINT NOT NULL,
    user_id TEXT   NOT NULL,
    PRIMARY KEY (day, user_id)
);
CREATE TABLE analytics_day_verdicts (
    day     BIGINT NOT NULL,
    verdict TEXT   NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (day, verdict)
);
-- A playground run has no id of its own: its position in the log is one.
CREATE TABLE analytics_playground_runs (
    tx        BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    user_id   TEXT   NOT NULL,
    day       BIGINT NOT NULL,
    cpu_ms    BIGINT NOT NULL,
    memory_kb BIGINT NOT NULL,
    limit_hit TEXT,
    PRIMARY KEY (tx, seq)
);
CREATE INDEX analytics_playground_runs_day ON analytics_playground_runs (day);
