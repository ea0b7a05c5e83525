-- A decision names the annotation revision it answers: when the churn detector revises an event's
-- annotation (an earlier event arrived after it), the scorer decides the event again, and that
-- decision's id derives from the event id and the revision. Replay finds such decisions through
-- the partial index (few rows: revisions are rare), the others by their id as before.
-- depends: 0011.scorer-unchanged-revisions

ALTER TABLE decisions ADD COLUMN revision integer NOT NULL DEFAULT 0;
CREATE INDEX decisions_revised ON decisions ((event_ids[1]), revision) WHERE revision > 0;
