-- Rows that name a block or an unblock keep them: the checks of before are restored NOT VALID
-- (enforced on new rows only).
ALTER TABLE decisions DROP CONSTRAINT decisions_event_type_known;
ALTER TABLE decisions ADD CONSTRAINT decisions_event_type_known
    CHECK (event_type IN ('follow', 'unfollow', 'interaction', 'followed_back', 'retained')) NOT VALID;
ALTER TABLE scorer_positions DROP CONSTRAINT scorer_positions_event_type_check;
ALTER TABLE scorer_positions ADD CONSTRAINT scorer_positions_event_type_check
    CHECK (event_type IN ('follow', 'unfollow', 'interaction', 'followed_back', 'retained')) NOT VALID;
