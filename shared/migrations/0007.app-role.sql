-- Least privilege: the services read and write rows and never change the schema. Migrations run as
-- the tables' owner; the services' pooled connections SET ROLE followback_app (shared/db.py,
-- FOLLOWBACK_POSTGRES__APP_ROLE), which may SELECT, INSERT, UPDATE and DELETE rows and use the
-- sequences, and may not DROP, TRUNCATE or ALTER anything.
-- depends: 0001.initial 0003.account-configs 0004.notifier 0005.erasures 0006.scorer-unchanged

-- Roles belong to the whole server while each database is migrated on its own (one per test):
-- create it only where it is missing, and let a migration of another database that creates it at
-- the same moment win.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'followback_app') THEN
        CREATE ROLE followback_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END $$;

-- The migrating user takes the role on for its services (a superuser needs no membership).
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'followback_app', 'MEMBER') THEN
        EXECUTE format('GRANT followback_app TO %I', current_user);
    END IF;
END $$;

-- Privileges belong to each database: granted here, on every table and on those created later.
GRANT USAGE ON SCHEMA public TO followback_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO followback_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO followback_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO followback_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO followback_app;
-- The migrations' own bookkeeping is the owner's alone.
REVOKE ALL ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock FROM followback_app;
-- The audit is append-only (its trigger refuses changes); the services need not even try.
REVOKE UPDATE, DELETE ON review_audit FROM followback_app;
