DROP TABLE churn_retained;
DROP TABLE churn_clock;
ALTER TABLE churn_processed DROP COLUMN emitted;
DROP INDEX relationships_retain_due;
DROP INDEX relationships_follower;
ALTER TABLE relationships DROP COLUMN retain_due_at;
ALTER TABLE relationships DROP COLUMN events_partition;
