-- Long-lived streams (WatchEvents, signalling) end when the credential they
-- were opened with ends. Every replica LISTENs on warden_credentials and
-- checks again the streams a notice names; the notice is sent by a trigger,
-- so that every path that revokes, disables or deletes is covered, and it
-- leaves with the commit that made the change.
CREATE FUNCTION notify_credential_ended() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  -- TG_ARGV: the kind ('key', 'user', 'family') and the column naming it.
  PERFORM pg_notify('warden_credentials', TG_ARGV[0] || ':' || (to_jsonb(OLD) ->> TG_ARGV[1]));
  RETURN NULL;
END $$;

CREATE TRIGGER api_keys_revoked AFTER UPDATE OF revoked_at ON api_keys FOR EACH ROW
  WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
  EXECUTE FUNCTION notify_credential_ended('key', 'name');
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys FOR EACH ROW
  EXECUTE FUNCTION notify_credential_ended('key', 'name');
CREATE TRIGGER users_disabled AFTER UPDATE OF disabled ON users FOR EACH ROW
  WHEN (NEW.disabled AND NOT OLD.disabled)
  EXECUTE FUNCTION notify_credential_ended('user', 'id');
CREATE TRIGGER users_deleted AFTER DELETE ON users FOR EACH ROW
  EXECUTE FUNCTION notify_credential_ended('user', 'id');
CREATE TRIGGER login_families_revoked AFTER UPDATE OF revoked_at ON login_families FOR EACH ROW
  WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
  EXECUTE FUNCTION notify_credential_ended('family', 'id');
CREATE TRIGGER login_families_deleted AFTER DELETE ON login_families FOR EACH ROW
  EXECUTE FUNCTION notify_credential_ended('family', 'id');

-- Audit actions compared byte by byte: an action prefix ('session.') is a
-- range of this index whatever the database's collation, also in a generic
-- (prepared) plan, and an exact action is one point of it.
CREATE INDEX audit_events_action_bytes ON audit_events (action COLLATE "C", id);
DROP INDEX audit_events_action;
