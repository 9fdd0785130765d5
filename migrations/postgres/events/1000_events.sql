-- The event log. `seq` comes from a sequence and is NOT commit order; readers
-- order by (txid, seq) and only read below the oldest running transaction,
-- so an event that commits late is never skipped.
CREATE TABLE events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid           BIGINT      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    stream         TEXT        NOT NULL,
    version        BIGINT      NOT NULL,
    event_id       UUID        NOT NULL,
    event_type     TEXT        NOT NULL,
    schema_version INTEGER     NOT NULL,
    data           JSONB       NOT NULL,
    metadata       JSONB       NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT events_stream_version UNIQUE (stream, version),
    CONSTRAINT events_event_id UNIQUE (event_id)
);
CREATE INDEX events_txid_seq ON events (txid, seq);
