-- The scorer's no-op rows name the annotation revision they answered (a revised annotation of an
-- event that decided nothing is scored again, once per revision), the relationship and the
-- configuration they were scored under (`followback replay` decides such an event, and its
-- relationship's next ones, under it). Rows from before have neither; a revision's row written as 'id#revision' (event
-- ids never hold '#') is split into the two columns.
-- depends: 0006.scorer-unchanged

ALTER TABLE scorer_unchanged ADD COLUMN revision integer NOT NULL DEFAULT 0;
ALTER TABLE scorer_unchanged ADD COLUMN account_id text;
ALTER TABLE scorer_unchanged ADD COLUMN follower_id text;
ALTER TABLE scorer_unchanged ADD COLUMN config_version text;
ALTER TABLE scorer_unchanged DROP CONSTRAINT scorer_unchanged_pkey;
UPDATE scorer_unchanged
SET event_id = split_part(event_id, '#', 1), revision = split_part(event_id, '#', 2)::int
WHERE event_id LIKE '%#%';
ALTER TABLE scorer_unchanged ADD PRIMARY KEY (event_id, revision);
