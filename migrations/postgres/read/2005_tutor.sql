-- `tutor`: every question to the tutor with its reply or failure (the
-- conversation view), and usage per UTC day, user and problem for admins.
-- A message moves from 'pending' to 'answered' or 'failed' once; usage
-- counters move only when that row changed, so re-applying is a no-op.
CREATE TABLE tutor_messages (
    message_id        TEXT PRIMARY KEY,
    user_id           TEXT   NOT NULL,
    problem_id        TEXT   NOT NULL,
    problem_slug      TEXT   NOT NULL,
    day               BIGINT NOT NULL,
    question          TEXT   NOT NULL,
    asked_at          BIGINT NOT NULL,
    status            TEXT   NOT NULL,
    reply             TEXT,
    model             TEXT,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    latency_ms        BIGINT,
    hints_revealed    BIGINT,
    replaced          BIGINT,
    error_code        TEXT,
    error_message     TEXT,
    replied_at        BIGINT
);
CREATE INDEX tutor_messages_conversation ON tutor_messages (user_id, problem_id, asked_at);
CREATE TABLE tutor_usage (
    day               BIGINT NOT NULL,
    user_id           TEXT   NOT NULL,
    problem_id        TEXT   NOT NULL,
    problem_slug      TEXT   NOT NULL,
    questions         BIGINT NOT NULL,
    replies           BIGINT NOT NULL,
    failures          BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ms_total  BIGINT NOT NULL,
    latency_ms_max    BIGINT NOT NULL,
    PRIMARY KEY (day, user_id, problem_id)
);
