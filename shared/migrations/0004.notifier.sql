-- The notifier: push intents with their budget, the delivery outbox, the review queue's read
-- model, human actions (append-only audit), per-follower notify preferences and the queue's users.
-- depends: 0001.initial

-- notifications (from 0001) stays the record of "a person should look at this follower": one row
-- per pushed decision, at most one pending per follower. These columns add the budget.
ALTER TABLE notifications
    ADD COLUMN version           integer,
    ADD COLUMN score             numeric(5, 2),
    ADD COLUMN occurred_at       timestamptz,
    ADD COLUMN day               date,
    -- Rows recorded before this migration were never pushed anywhere: 'none'.
    ADD COLUMN push              text NOT NULL DEFAULT 'none',
    ADD COLUMN push_day          date,
    ADD COLUMN priority          smallint NOT NULL DEFAULT 0,
    ADD COLUMN suppressed_reason text,
    ADD COLUMN acted_at          timestamptz;
-- waiting: over the day's budget; scheduled: counted against push_day's budget; cancelled: never.
ALTER TABLE notifications ALTER COLUMN push SET DEFAULT 'waiting';
UPDATE notifications n
SET version = d.version, score = d.score, occurred_at = d.occurred_at,
    day = (d.occurred_at AT TIME ZONE 'UTC')::date
FROM decisions d WHERE d.decision_id = n.decision_id;
CREATE INDEX notifications_budget ON notifications (account_id, push_day) WHERE push = 'scheduled';
CREATE INDEX notifications_waiting ON notifications (account_id, day) WHERE push = 'waiting';

-- The outbox: one row per message to one channel, written in the transaction that caused it.
CREATE TABLE deliveries (
    delivery_id      bigserial   PRIMARY KEY,
    idempotency_key  text        NOT NULL UNIQUE,
    decision_id      uuid,
    account_id       text        NOT NULL,
    follower_id      text        NOT NULL,
    channel          text        NOT NULL,
    kind             text        NOT NULL,   -- push | retraction | follow_back | event
    target           text        NOT NULL,   -- where to, as configured when the row was written
    payload          jsonb       NOT NULL,
    -- pending | sending | sent | retrying | dead | unknown | cancelled
    status           text        NOT NULL DEFAULT 'pending',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at       timestamptz,
    claimed_by       text,
    sent_at          timestamptz,
    last_error       text,
    depends_on       bigint      REFERENCES deliveries (delivery_id),  -- a retraction waits for its push
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_in_flight ON deliveries (claimed_at) WHERE status = 'sending';
CREATE INDEX deliveries_problems ON deliveries (account_id) WHERE status IN ('dead', 'unknown');
CREATE INDEX deliveries_decision ON deliveries (decision_id);
CREATE INDEX deliveries_waiting_on ON deliveries (depends_on) WHERE depends_on IS NOT NULL;

-- The review queue: each follower a person may look at, with the current decision and profile.
CREATE TABLE review_items (
    account_id   text          NOT NULL,
    follower_id  text          NOT NULL,
    decision_id  uuid          NOT NULL,
    version      integer       NOT NULL,
    class        text          NOT NULL,
    score        numeric(5, 2) NOT NULL,
    reasons      jsonb         NOT NULL,
    screen_name  text          NOT NULL DEFAULT '',
    profile      jsonb,
    occurred_at  timestamptz   NOT NULL,
    -- open | followed_back | dismissed | marked_spam: what a person decided
    state        text          NOT NULL DEFAULT 'open',
    decided_by   text,
    decided_at   timestamptz,
    updated_at   timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, follower_id)
);
CREATE INDEX review_items_listing ON review_items (state, class, score DESC);

-- Every human action, who and when. Append-only: updates and deletes are refused.
CREATE TABLE review_audit (
    action_id    uuid        PRIMARY KEY,
    actor        text        NOT NULL,
    action       text        NOT NULL,
    account_id   text,
    follower_id  text,
    decision_id  uuid,
    at           timestamptz NOT NULL DEFAULT now(),
    detail       jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX review_audit_relationship ON review_audit (account_id, follower_id, at);
CREATE FUNCTION review_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'review_audit is append-only';
END $$;
CREATE TRIGGER review_audit_append_only BEFORE UPDATE OR DELETE ON review_audit
    FOR EACH ROW EXECUTE FUNCTION review_audit_append_only();

CREATE TABLE notify_preferences (
    account_id   text        NOT NULL,
    follower_id  text        NOT NULL,
    preference   text        NOT NULL CHECK (preference IN ('always', 'never')),
    set_by       text        NOT NULL,
    set_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, follower_id)
);

CREATE TABLE review_users (
    username       text        PRIMARY KEY,
    password_hash  text        NOT NULL,
    created_by     text        NOT NULL DEFAULT current_user,
    created_at     timestamptz NOT NULL DEFAULT now()
);
