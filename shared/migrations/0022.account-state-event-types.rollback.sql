-- Rows that name a suspension, a deactivation or their lifting keep them: the checks of 0018 are
-- restored NOT VALID (enforced on new rows only).
ALTER TABLE decisions DROP CONSTRAINT decisions_event_type_known;
ALTER TABLE decisions ADD CONSTRAINT decisions_event_type_known
    CHECK (event_type IN ('follow', 'unfollow', 'interaction', 'followed_back', 'retained', 'blocked',
                          'unblocked')) NOT VALID;
ALTER TABLE scorer_positions DROP CONSTRAINT scorer_positions_event_type_check;
ALTER TABLE scorer_positions ADD CONSTRAINT scorer_positions_event_type_check
    CHECK (event_type IN ('follow', 'unfollow', 'interaction', 'followed_back', 'retained', 'blocked',
                          'unblocked')) NOT VALID;
