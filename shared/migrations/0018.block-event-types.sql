-- The brand's blocks and unblocks of a follower are events ('blocked', 'unblocked'), and a decision
-- may rest on one (the block makes the follower harmful, the unblock lifts that): the checks on the
-- event types a decision and a scorer position name take them too. The decisions' check stays NOT
-- VALID as 0013 left it (enforced on new rows, no scan under the table's exclusive lock);
-- scorer_positions is one small row per relationship and is checked whole.
-- depends: 0017.platform-follow-backs

ALTER TABLE decisions DROP CONSTRAINT decisions_event_type_known;
ALTER TABLE decisions ADD CONSTRAINT decisions_event_type_known
    CHECK (event_type IN ('follow', 'unfollow', 'interaction', 'followed_back', 'retained', 'blocked',
                          'unblocked')) NOT VALID;
ALTER TABLE scorer_positions DROP CONSTRAINT scorer_positions_event_type_check;
ALTER TABLE scorer_positions ADD CONSTRAINT scorer_positions_event_type_check
    CHECK (event_type IN ('follow', 'unfollow', 'interaction', 'followed_back', 'retained', 'blocked',
                          'unblocked'));
