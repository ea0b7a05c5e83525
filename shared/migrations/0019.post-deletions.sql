-- The posts their authors deleted (X's `tweet_delete_events`, or a `deleted` event over HTTP), as
-- the churn detector erased them: the text of each stored copy of the post (one per brand it was
-- delivered for) is blanked in churn_processed, and a copy that arrives afterwards (out of order) is
-- stored without its text. One row per author and post: the tombstone the detector reads, and the
-- record `followback explain` shows (which post, when, how many rows changed).
-- depends: 0018.block-event-types

CREATE TABLE post_deletions (
    follower_id  text        NOT NULL,   -- the post's author
    post_key     text        NOT NULL,   -- services.churn.deletions.post_key of the deleted event id
    account_id   text        NOT NULL,   -- the brand the (first) deletion was delivered for
    event_id     text        NOT NULL,   -- the (first) deleted event's own id
    deletes      text        NOT NULL,   -- the interaction's event id it named
    deleted_at   timestamptz NOT NULL,   -- when the author deleted it (the deleted event's time)
    erased_at    timestamptz NOT NULL DEFAULT now(),
    rows_changed jsonb       NOT NULL,   -- {"churn_processed": n, "stored_without_text": m}
    PRIMARY KEY (follower_id, post_key)
);
GRANT SELECT, INSERT, UPDATE ON post_deletions TO followback_app;
