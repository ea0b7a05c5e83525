DROP TABLE digest_clocks;
DROP TABLE digests;
DROP TABLE digest_entries;
