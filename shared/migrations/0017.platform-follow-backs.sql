-- Follow-backs made on the platform itself (a person at the brand followed the follower on X, not
-- with the review queue's button): the notifier reads them from the events topic. One row per
-- relationship, the earliest in event time, kept whether or not the follower is in the queue yet:
-- a decision that brings them in later finds it, so the follower is never pushed, whatever the
-- arrival order. Ids and times only (nothing for `followback forget` to erase).
-- review_items.decided_via: where a decision was made, NULL for the review queue (a person, named
-- in decided_by), else the platform (decided_by is then the platform's name too, which a person's
-- name could equal; decided_via tells them apart).
-- depends: 0016.review-queue-indexes

CREATE TABLE platform_follow_backs (
    account_id   text        NOT NULL,
    follower_id  text        NOT NULL,
    platform     text        NOT NULL,
    event_id     text        COLLATE "C" NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, follower_id)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON platform_follow_backs TO followback_app;

ALTER TABLE review_items ADD COLUMN decided_via text;
