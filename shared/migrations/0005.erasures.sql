-- What `followback forget` erased: the follower, when, by whom, and how many rows it changed.
CREATE TABLE erasures (
    follower_id  text        NOT NULL,
    erased_at    timestamptz NOT NULL DEFAULT now(),
    erased_by    text        NOT NULL,
    rows_changed jsonb       NOT NULL
);
CREATE INDEX erasures_follower ON erasures (follower_id);
