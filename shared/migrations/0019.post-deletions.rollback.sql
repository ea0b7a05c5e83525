DROP TABLE post_deletions;
