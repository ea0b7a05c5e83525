DROP INDEX decisions_revised;
ALTER TABLE decisions DROP COLUMN revision;
