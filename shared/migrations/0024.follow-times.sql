-- A decision carries the time of the follow it is about (the churn annotation's last_follow_at: the
-- follower's newest follow as of the decision's event), and the review queue's item keeps its newest
-- decision's. A follow-back made on X then answers an item unless the brand's unfollow on X came
-- between the follow-back and the item's follow, not its event: a like after the brand's unfollow
-- that moved the score of the follow the brand answered is no longer taken for a follow after the
-- unfollow (that follower was pushed where the like's decision reached the queue before the
-- follow-back was applied). Rows recorded before stay NULL: for them the item's event stands in, as
-- before. Nullable columns without a default: no rewrite of either table, only a brief lock.
-- depends: 0023.follow-back-history

ALTER TABLE decisions ADD COLUMN followed_at timestamptz;
ALTER TABLE review_items ADD COLUMN followed_at timestamptz;
