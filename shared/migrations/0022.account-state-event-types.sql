-- X's suspension of a follower's account and its lifting, and the follower's deactivation of it and
-- reactivation, are events ('suspended', 'unsuspended', 'deactivated', 'reactivated'), and a decision
-- may rest on one (a suspension makes the follower ignore, a deactivation withdrawn, the lifting
-- decides again): the checks on the event types a decision and a scorer position name take them too.
-- As in 0018, the decisions' check stays NOT VALID (enforced on new rows, no scan under the table's
-- exclusive lock); scorer_positions is one small row per relationship and is checked whole.
-- depends: 0021.platform-unfollows

ALTER TABLE decisions DROP CONSTRAINT decisions_event_type_known;
ALTER TABLE decisions ADD CONSTRAINT decisions_event_type_known
    CHECK (event_type IN ('follow', 'unfollow', 'interaction', 'followed_back', 'retained', 'blocked',
                          'unblocked', 'suspended', 'unsuspended', 'deactivated', 'reactivated')) NOT VALID;
ALTER TABLE scorer_positions DROP CONSTRAINT scorer_positions_event_type_check;
ALTER TABLE scorer_positions ADD CONSTRAINT scorer_positions_event_type_check
    CHECK (event_type IN ('follow', 'unfollow', 'interaction', 'followed_back', 'retained', 'blocked',
                          'unblocked', 'suspended', 'unsuspended', 'deactivated', 'reactivated'));
