ALTER TABLE scorer_unchanged DROP CONSTRAINT scorer_unchanged_pkey;
UPDATE scorer_unchanged SET event_id = event_id || '#' || revision WHERE revision > 0;
ALTER TABLE scorer_unchanged ADD PRIMARY KEY (event_id);
ALTER TABLE scorer_unchanged DROP COLUMN config_version;
ALTER TABLE scorer_unchanged DROP COLUMN follower_id;
ALTER TABLE scorer_unchanged DROP COLUMN account_id;
ALTER TABLE scorer_unchanged DROP COLUMN revision;
