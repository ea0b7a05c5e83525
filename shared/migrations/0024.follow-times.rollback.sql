ALTER TABLE review_items DROP COLUMN followed_at;
ALTER TABLE decisions DROP COLUMN followed_at;
