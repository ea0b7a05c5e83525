-- The brand's newest unfollow of each follower on the platform (an 'unfollowed_back' event), as the
-- notifier read it from `events` beside the follow-backs made on X and the blocks: the brand's follow
-- ended, so a follow-back at or before it (platform_follow_backs) is forgotten, and one arriving
-- late, older than it, is not remembered: it never decides the item of a follower who follows again
-- after the unfollow. Ids and times only (nothing for `followback forget` to erase). No event type
-- check changes: an 'unfollowed_back' event decides nothing (like 'followed_back'), so no decision
-- and no scorer position names one.
-- depends: 0020.platform-blocks

CREATE TABLE platform_unfollows (
    account_id     text        NOT NULL,
    follower_id    text        NOT NULL,
    unfollowed_at  timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, follower_id)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON platform_unfollows TO followback_app;
