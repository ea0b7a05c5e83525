-- The churn detector in event time (services/churn/timeline.py).
-- depends: 0001.initial

-- Which partition of the events topic a relationship's follower is on, and when advancing it may
-- emit a "retained" event: the sweep finds the due ones through the partial index.
ALTER TABLE relationships ADD COLUMN events_partition integer;
ALTER TABLE relationships ADD COLUMN retain_due_at timestamptz;
CREATE INDEX relationships_follower ON relationships (follower_id);
CREATE INDEX relationships_retain_due ON relationships (events_partition, retain_due_at)
    WHERE retain_due_at IS NOT NULL;

-- What processing an event published besides its own annotation (alerts, revised and retained
-- events), so a redelivered event re-publishes all of it.
ALTER TABLE churn_processed ADD COLUMN emitted jsonb;

-- The "retained" events the detector emitted (a follow that lasted the quick-unfollow window), as
-- published; the id derives from the follow, so one is never recorded twice.
CREATE TABLE churn_retained (
    event_id     text        PRIMARY KEY,
    account_id   text        NOT NULL,
    follower_id  text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    annotated    jsonb       NOT NULL
);
CREATE INDEX churn_retained_relationship ON churn_retained (account_id, follower_id, occurred_at);

-- Each partition's stream time: the newest occurred_at among its events, committed with the states
-- it moved. The watermark is this minus the grace period.
CREATE TABLE churn_clock (
    events_partition  integer     PRIMARY KEY,
    stream_time       timestamptz NOT NULL
);
