-- A decision names the type of the event it was decided on. With the event's time and id it is the
-- event's place in event time, so the scorer can tell that an event of the same second but earlier
-- in the detector's order (a follow stamped with the unfollow's second, delivered after it)
-- describes the relationship as of before the latest decision, and records no version on top of it.
-- Rows recorded before stay NULL: for them only an older second counts as older, as before.
-- The column comes without a default (no rewrite) and its check NOT VALID (enforced on new rows;
-- the existing rows are all NULL, so nothing needs the scan a validated check would make under
-- the table's exclusive lock).
-- depends: 0012.decision-revisions

ALTER TABLE decisions ADD COLUMN event_type text;
ALTER TABLE decisions ADD CONSTRAINT decisions_event_type_known
    CHECK (event_type IN ('follow', 'unfollow', 'interaction', 'followed_back', 'retained')) NOT VALID;
