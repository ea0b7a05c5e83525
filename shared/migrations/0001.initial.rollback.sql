DROP TABLE notifications;
DROP TABLE decisions;
DROP TABLE churn_processed;
DROP TABLE relationships;
