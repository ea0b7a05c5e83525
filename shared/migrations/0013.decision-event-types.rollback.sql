ALTER TABLE decisions DROP COLUMN event_type;
