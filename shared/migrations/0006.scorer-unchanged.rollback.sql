DROP TABLE scorer_unchanged;
