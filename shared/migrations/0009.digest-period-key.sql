-- A digest is one period of one channel: an hourly and a daily period may start at the same
-- instant (a brand switched modes), so the period's end is part of its key.
-- depends: 0008.notifier-digests

ALTER TABLE digests DROP CONSTRAINT digests_pkey;
ALTER TABLE digests ADD PRIMARY KEY (account_id, channel, period_start, period_end);
