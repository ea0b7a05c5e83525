ALTER TABLE review_items DROP COLUMN decided_via;
DROP TABLE platform_follow_backs;
