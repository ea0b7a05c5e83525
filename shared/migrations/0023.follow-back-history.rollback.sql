-- Back to one row per relationship, as an earlier release keeps them: the newest unfollow, and the
-- earliest follow-back after it (standing; the ones an unfollow ended are forgotten).
DELETE FROM platform_follow_backs p WHERE EXISTS (
    SELECT 1 FROM platform_unfollows u WHERE u.account_id = p.account_id AND u.follower_id = p.follower_id
    AND u.unfollowed_at >= p.occurred_at);
DELETE FROM platform_follow_backs p WHERE EXISTS (
    SELECT 1 FROM platform_follow_backs q WHERE q.account_id = p.account_id AND q.follower_id = p.follower_id
    AND (q.occurred_at, q.event_id) < (p.occurred_at, p.event_id));
DELETE FROM platform_unfollows u WHERE EXISTS (
    SELECT 1 FROM platform_unfollows v WHERE v.account_id = u.account_id AND v.follower_id = u.follower_id
    AND v.unfollowed_at > u.unfollowed_at);
ALTER TABLE platform_unfollows DROP CONSTRAINT platform_unfollows_pkey, ADD PRIMARY KEY (account_id, follower_id);
ALTER TABLE platform_follow_backs DROP CONSTRAINT platform_follow_backs_pkey,
    ADD PRIMARY KEY (account_id, follower_id);
