-- The first schema: relationship state (churn detector), decisions (scorer),
-- notifications (notifier). Every effect table is keyed by an id that a redelivered message
-- maps to again, so writes are idempotent.

CREATE TABLE relationships (
    account_id   text        NOT NULL,
    follower_id  text        NOT NULL,
    state        jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id, follower_id)
);

-- Every event the churn detector has folded into a relationship, with the annotated event it
-- published: a redelivered event is re-published from here instead of being folded twice.
CREATE TABLE churn_processed (
    event_id     text        PRIMARY KEY,
    account_id   text        NOT NULL,
    follower_id  text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    annotated    jsonb       NOT NULL
);
CREATE INDEX churn_processed_relationship ON churn_processed (account_id, follower_id, occurred_at);

-- One row per decision version; a relationship's current decision is its highest version.
CREATE TABLE decisions (
    decision_id     uuid        PRIMARY KEY,
    account_id      text        NOT NULL,
    follower_id     text        NOT NULL,
    version         integer     NOT NULL,
    screen_name     text        NOT NULL DEFAULT '',
    class           text        NOT NULL,
    score           numeric(5, 2) NOT NULL,
    reasons         jsonb       NOT NULL,
    scorer_version  text        NOT NULL,
    config_version  text        NOT NULL,
    event_ids       text[]      NOT NULL,
    occurred_at     timestamptz NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, follower_id, version)
);
CREATE INDEX decisions_class ON decisions (class);

CREATE TABLE notifications (
    decision_id   uuid        PRIMARY KEY REFERENCES decisions (decision_id),
    account_id    text        NOT NULL,
    follower_id   text        NOT NULL,
    channel       text        NOT NULL DEFAULT 'queue',
    status        text        NOT NULL DEFAULT 'pending',
    created_at    timestamptz NOT NULL DEFAULT now(),
    retracted_at  timestamptz
);
CREATE INDEX notifications_relationship ON notifications (account_id, follower_id);
-- Once per follower: a later decision version of someone already waiting in the queue adds no push.
CREATE UNIQUE INDEX notifications_one_pending
    ON notifications (account_id, follower_id) WHERE status = 'pending';
