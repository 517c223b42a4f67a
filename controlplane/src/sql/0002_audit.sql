-- Append-only, SHA-256 hash-chained audit log. hash = SHA-256(prev_hash || canonical row).
-- The head table records the last (seq, hash) so a deleted tail is detected too.
CREATE TABLE audit_events (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  ts              INTEGER NOT NULL,      -- unix microseconds
  actor_type      TEXT NOT NULL,
  actor_id        TEXT NOT NULL,
  organization_id TEXT NOT NULL,
  partner_id      TEXT NOT NULL,
  action          TEXT NOT NULL,
  target          TEXT NOT NULL,
  source_ip       TEXT NOT NULL,
  result          TEXT NOT NULL,
  detail          TEXT NOT NULL,
  request_id      TEXT NOT NULL,
  prev_hash       TEXT NOT NULL,
  hash            TEXT NOT NULL
);
CREATE INDEX audit_org_ts ON audit_events(organization_id, ts);
CREATE INDEX audit_ts ON audit_events(ts);
CREATE TABLE audit_head (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  seq   INTEGER NOT NULL,
  hash  TEXT NOT NULL
);
INSERT INTO audit_head(id, seq, hash) VALUES (1, 0, '');
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
