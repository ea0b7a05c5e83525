-- Every follow-back made on X and every unfollow of the brand's on X are kept (they were one row per
-- relationship: the earliest follow-back after the newest end, and the newest unfollow), so that a
-- follow-back the brand's later unfollow ended still decides the item of an event at or before that
-- unfollow (the follow the brand answered: a backfill, or the decisions consumer lagging behind the
-- follow-backs consumer, brings that item in after the notifier learned of both), never one of an
-- event after it (the follower followed again), whatever the order they arrive in. A block still
-- forgets the follow-backs at or before it (platform_blocks keeps the newest). The rows kept so far
-- stay: the follow-backs the unfollows ended were forgotten before, as they were. Small tables (the
-- brand's own acts on X): the keys are rebuilt at once.
-- depends: 0022.account-state-event-types

ALTER TABLE platform_follow_backs DROP CONSTRAINT platform_follow_backs_pkey,
    ADD PRIMARY KEY (account_id, follower_id, event_id);
ALTER TABLE platform_unfollows DROP CONSTRAINT platform_unfollows_pkey,
    ADD PRIMARY KEY (account_id, follower_id, unfollowed_at);
