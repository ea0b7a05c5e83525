-- The brand's newest block of each follower on the platform, as the notifier read it from `events`
-- beside the follow-backs made on X: X removes the brand's follow too on a block, so a follow-back
-- at or before the block (platform_follow_backs) is forgotten, and one arriving late, older than the
-- block, is not remembered: it never decides the item of a follower who follows again after the
-- block. Ids and times only (nothing for `followback forget` to erase).
-- depends: 0019.post-deletions

CREATE TABLE platform_blocks (
    account_id   text        NOT NULL,
    follower_id  text        NOT NULL,
    blocked_at   timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, follower_id)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON platform_blocks TO followback_app;
