-- Indexes for the review queue's pages once it holds months of followers: each sort it offers
-- (listing.SORTS) read in order from an index, with or without the class and state filters, instead
-- of sorting every row for `class=any&state=any` or a deep page; the search by id or handle (an
-- exact, case-insensitive match); the account list (a loose scan of the primary key needs nothing
-- new). Nothing is added to churn_processed: the churn detector's hottest write (each follower's
-- interactions are read through its relationship index, churn_processed_relationship).
-- depends: 0015.erased-annotations

DROP INDEX review_items_listing;
-- Each holds the primary key and the filters' columns, so a page's keys (after an OFFSET) are read
-- from the index alone; the page's rows are then fetched by key.
CREATE INDEX review_items_listing ON review_items (state, class, score DESC, occurred_at DESC, follower_id)
    INCLUDE (account_id);
CREATE INDEX review_items_by_score ON review_items (score DESC, occurred_at DESC, follower_id)
    INCLUDE (account_id, class, state);
CREATE INDEX review_items_by_time ON review_items (occurred_at, follower_id) INCLUDE (account_id, class, state);
CREATE INDEX review_items_follower ON review_items (follower_id);
CREATE INDEX review_items_screen_name ON review_items (lower(screen_name));
