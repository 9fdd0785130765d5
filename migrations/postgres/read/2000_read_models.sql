-- Read models. Rebuildable from the log at any time; never the source of truth.
-- Portable SQL only (SQLite and PostgreSQL through sqlx's Any driver): ids are
-- TEXT, times are BIGINT microseconds since the epoch, flags are BIGINT 0/1.

CREATE TABLE projection_checkpoints (
    name TEXT PRIMARY KEY,
    tx   BIGINT NOT NULL,
    seq  BIGINT NOT NULL
);

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    username      TEXT   NOT NULL,
    username_key  TEXT   NOT NULL,
    email         TEXT   NOT NULL,
    role          TEXT   NOT NULL,
    active        BIGINT NOT NULL,
    session_epoch BIGINT NOT NULL,
    display_name  TEXT   NOT NULL,
    bio           TEXT   NOT NULL,
    deactivation_reason TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX users_username_key ON users (username_key);

-- Hidden tests live in their own table so that no user-facing query can
-- select them by accident.
CREATE TABLE problems (
    problem_id    TEXT PRIMARY KEY,
    slug          TEXT   NOT NULL,
    title         TEXT   NOT NULL,
    statement     TEXT   NOT NULL,
    difficulty    TEXT   NOT NULL,
    tags          TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    template      TEXT   NOT NULL,
    examples      TEXT   NOT NULL,
    time_limit_ms BIGINT NOT NULL,
    memory_limit_mb BIGINT NOT NULL,
    checker       TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    version       BIGINT NOT NULL,
    created_by    TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    published_at  BIGINT
);
CREATE INDEX problems_slug ON problems (slug);

CREATE TABLE problem_hidden_tests (
    problem_id TEXT PRIMARY KEY,
    tests      TEXT NOT NULL
);

CREATE TABLE submissions (
    submission_id   TEXT PRIMARY KEY,
    user_id         TEXT   NOT NULL,
    problem_id      TEXT   NOT NULL,
    problem_slug    TEXT   NOT NULL,
    problem_version BIGINT NOT NULL,
    language        TEXT   NOT NULL,
    code            TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX submissions_user ON submissions (user_id, created_at);
CREATE INDEX submissions_problem ON submissions (problem_id, created_at);
