DROP TABLE review_users;
DROP TABLE notify_preferences;
DROP TABLE review_audit;
DROP FUNCTION review_audit_append_only();
DROP TABLE review_items;
DROP TABLE deliveries;
DROP INDEX notifications_waiting;
DROP INDEX notifications_budget;
ALTER TABLE notifications
    DROP COLUMN version, DROP COLUMN score, DROP COLUMN occurred_at, DROP COLUMN day,
    DROP COLUMN push, DROP COLUMN push_day, DROP COLUMN priority, DROP COLUMN suppressed_reason,
    DROP COLUMN acted_at;
