DROP TABLE scorer_positions;
