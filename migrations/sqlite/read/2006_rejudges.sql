-- Rejudges and their progress (projection `rejudges`). One row per rejudge,
-- and one per submission it queued: `verdict` is NULL until the rejudge's
-- verdict for that submission lands, which makes the counters idempotent.
CREATE TABLE rejudges (
    rejudge_id      TEXT PRIMARY KEY,
    problem_id      TEXT NOT NULL,
    problem_slug    TEXT NOT NULL,
    problem_version BIGINT NOT NULL,
    scope           TEXT NOT NULL,
    total           BIGINT NOT NULL,
    judged          BIGINT NOT NULL DEFAULT 0,
    changed         BIGINT NOT NULL DEFAULT 0,
    now_failing     BIGINT NOT NULL DEFAULT 0,
    now_passing     BIGINT NOT NULL DEFAULT 0,
    started_by      TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX rejudges_by_problem ON rejudges (problem_id, started_at);

CREATE TABLE rejudge_items (
    rejudge_id       TEXT NOT NULL,
    submission_id    TEXT NOT NULL,
    previous_verdict TEXT NOT NULL,
    verdict          TEXT,
    PRIMARY KEY (rejudge_id, submission_id)
);
