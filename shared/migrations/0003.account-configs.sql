-- Per-brand configuration, versioned: every change is a new row, never an update in place, so a
-- decision's config_version always names the exact rules it was made under.
CREATE TABLE account_configs (
    account_id  text        NOT NULL,
    version     integer     NOT NULL,
    config      jsonb       NOT NULL,
    changed_by  text        NOT NULL DEFAULT current_user,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, version)
);
