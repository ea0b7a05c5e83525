DROP INDEX review_items_screen_name;
DROP INDEX review_items_follower;
DROP INDEX review_items_by_time;
DROP INDEX review_items_by_score;
DROP INDEX review_items_listing;
CREATE INDEX review_items_listing ON review_items (state, class, score DESC);
