-- An event erased by `followback forget` says so in its stored annotation (`"erased": true`), so the
-- churn detector's revisions and re-publications of it carry the mark and the scorer decides nothing
-- on a profile that is gone (before, a revision of an erased follow was scored on the blank profile).
-- Marks the rows erased before this migration: a forgotten follower's rows whose profile is the id
-- alone (a stored event always has every profile key; events that came after the erasure are kept).
-- depends: 0014.scorer-positions

UPDATE churn_processed SET annotated = annotated || '{"erased": true}'::jsonb
WHERE follower_id IN (SELECT follower_id FROM erasures)
  AND annotated->'event'->'follower' = jsonb_build_object('id', follower_id);
