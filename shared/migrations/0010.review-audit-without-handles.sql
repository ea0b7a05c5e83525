-- review_audit kept each action's follower handle in detail.screen_name, out of `followback
-- forget`'s reach (the audit is append-only). Actions no longer record it (the follower_id column
-- names the follower); this strips it from the rows recorded before. The append-only trigger is
-- off only inside this migration's transaction, which no other session sees.
-- depends: 0004.notifier

ALTER TABLE review_audit DISABLE TRIGGER review_audit_append_only;
UPDATE review_audit SET detail = detail - 'screen_name' WHERE detail ? 'screen_name';
ALTER TABLE review_audit ENABLE TRIGGER review_audit_append_only;
