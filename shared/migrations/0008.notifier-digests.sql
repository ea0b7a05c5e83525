-- Digest mode: a brand's push channels send one message per event-time period (an hour or a day)
-- listing the followers, instead of one message per follower. Each scheduled push becomes an
-- entry; when the account's stream time has passed a period's end (plus a grace), the period's
-- open entries become one outbox row (kind 'digest') per channel, in the same transaction.
-- depends: 0004.notifier 0007.app-role

CREATE TABLE digest_entries (
    decision_id   uuid        NOT NULL,
    channel       text        NOT NULL,
    account_id    text        NOT NULL,
    follower_id   text        NOT NULL,
    target        text        NOT NULL,
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    payload       jsonb       NOT NULL,   -- what the digest lists about this follower
    -- open (waiting for its period to close) | included (in delivery_id's digest) | retracted
    status        text        NOT NULL DEFAULT 'open',
    delivery_id   bigint      REFERENCES deliveries (delivery_id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (decision_id, channel)
);
CREATE INDEX digest_entries_open ON digest_entries (account_id, period_end) WHERE status = 'open';
CREATE INDEX digest_entries_delivery ON digest_entries (delivery_id) WHERE delivery_id IS NOT NULL;

-- Every closed period, once per account and channel: a later entry never joins a closed period.
CREATE TABLE digests (
    account_id    text        NOT NULL,
    channel       text        NOT NULL,
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    delivery_id   bigint      NOT NULL REFERENCES deliveries (delivery_id),
    closed_by     text        NOT NULL,   -- 'stream_time' or 'flush'
    PRIMARY KEY (account_id, channel, period_start)
);

-- Each digest account's stream time: the newest occurred_at of its decisions the notifier has seen.
CREATE TABLE digest_clocks (
    account_id   text        PRIMARY KEY,
    stream_time  timestamptz NOT NULL
);

-- Least privilege (see 0007): rows only.
GRANT SELECT, INSERT, UPDATE, DELETE ON digest_entries, digests, digest_clocks TO followback_app;
