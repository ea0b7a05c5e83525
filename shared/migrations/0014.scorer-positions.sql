-- Where a relationship's latest decision version stands in event time, once an event newer than
-- the one it was decided on scored the same (and so recorded no version): an event between the two
-- that arrives afterwards describes the relationship as of before the newest one scored (an older
-- profile snapshot, say) and must not decide on top. One row per relationship, moved only forward
-- in the detector's order (time, type's rank, event id); without a row, a version stands for the
-- event it was decided on.
-- depends: 0013.decision-event-types

CREATE TABLE scorer_positions (
    account_id  text        NOT NULL,
    follower_id text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_type  text        NOT NULL
        CHECK (event_type IN ('follow', 'unfollow', 'interaction', 'followed_back', 'retained')),
    event_rank  integer     NOT NULL,  -- shared.events.EVENT_TIME_RANK of event_type, for the comparison
    -- Byte order, as Python compares ids: under a database's linguistic collation (en_US, say)
    -- 'a' < 'B', and the forward-only upsert would refuse a move Python takes as forward.
    event_id    text        COLLATE "C" NOT NULL,
    PRIMARY KEY (account_id, follower_id)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON scorer_positions TO followback_app;
