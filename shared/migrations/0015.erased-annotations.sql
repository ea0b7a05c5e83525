-- An event erased by `followback forget` says so in its stored annotation (`"erased": true`), so the
-- churn detector's revisions and re-publications of it carry the mark and the scorer decides nothing
-- on a profile that is gone (before, a revision of an erased follow was scored on the blank profile).
-- Marks the rows erased before this migration: a forgotten follower's rows whose profile holds
-- nothing but the id: the id alone, as forget left it, or every other key empty (0, "", false,
-- null), as a revision of such a row wrote it back. Events that came after the erasure, with a
-- profile, are left as they are.
-- depends: 0014.scorer-positions

UPDATE churn_processed SET annotated = annotated || '{"erased": true}'::jsonb
WHERE follower_id IN (SELECT follower_id FROM erasures)
  AND NOT EXISTS (
      SELECT 1 FROM jsonb_each((annotated->'event'->'follower') - 'id') AS f(key, value)
      WHERE f.value NOT IN ('0'::jsonb, '""'::jsonb, 'false'::jsonb, 'null'::jsonb));
