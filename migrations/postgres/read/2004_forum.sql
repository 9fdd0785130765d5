-- `forum`: threaded comments per problem and their votes.
-- `parent_key` is the parent's id, or '' for a top-level comment, so one
-- index serves both listings. `live_below` counts the comments under this
-- one (itself excluded) that are neither deleted nor hidden: a deleted or
-- hidden comment keeps its place in its thread while it is above 0.
-- `html` is the body rendered from Markdown and sanitised when the event
-- was applied; a replay re-renders it.
CREATE TABLE forum_comments (
    comment_id    TEXT PRIMARY KEY,
    problem_id    TEXT   NOT NULL,
    problem_slug  TEXT   NOT NULL,
    parent_id     TEXT,
    parent_key    TEXT   NOT NULL,
    depth         BIGINT NOT NULL,
    author_id     TEXT   NOT NULL,
    author_name   TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    html          TEXT   NOT NULL,
    spoiler       BIGINT NOT NULL,
    deleted       BIGINT NOT NULL,
    hidden        BIGINT NOT NULL,
    hidden_reason TEXT,
    score         BIGINT NOT NULL,
    upvotes       BIGINT NOT NULL,
    downvotes     BIGINT NOT NULL,
    live_below    BIGINT NOT NULL,
    posted_at     BIGINT NOT NULL,
    edited_at     BIGINT
);
CREATE INDEX forum_comments_new ON forum_comments (problem_id, parent_key, posted_at, comment_id);
CREATE INDEX forum_comments_top ON forum_comments (problem_id, parent_key, score, posted_at, comment_id);
CREATE INDEX forum_comments_parent ON forum_comments (parent_id);

-- One row per voter and comment: the vote now (1 or -1); taking a vote back
-- deletes the row.
CREATE TABLE forum_votes (
    comment_id TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    vote       BIGINT NOT NULL,
    PRIMARY KEY (comment_id, user_id)
);
