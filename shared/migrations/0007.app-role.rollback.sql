-- The role stays: other databases of the same server may still grant it privileges.
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM followback_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM followback_app;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM followback_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM followback_app;
REVOKE USAGE ON SCHEMA public FROM followback_app;
