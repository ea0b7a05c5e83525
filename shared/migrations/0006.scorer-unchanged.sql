-- Events the scorer scored that changed nothing (no new decision version). A decided event is
-- recognised on redelivery by its decision id; these are recognised here. Scored again after a
-- later version of the same relationship, such an event would record a stale decision on top.
-- depends: 0001.initial
CREATE TABLE scorer_unchanged (
    event_id   text        PRIMARY KEY,
    scored_at  timestamptz NOT NULL DEFAULT now()
);
