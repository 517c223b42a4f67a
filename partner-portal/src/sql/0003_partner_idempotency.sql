-- Idempotency-Key on /partner/v1 writes: the first answer (status < 500) to a key is stored and
-- replayed for 24 hours to a retry of the same request (method, path, body hash); the same key
-- with another request is refused.
CREATE TABLE partner_idempotency (
  partner_id    TEXT NOT NULL,
  idem_key      TEXT NOT NULL,
  method        TEXT NOT NULL,
  path          TEXT NOT NULL,
  body_sha256   TEXT NOT NULL,
  status        INTEGER NOT NULL,
  content_type  TEXT NOT NULL,
  location      TEXT NOT NULL DEFAULT '',
  body          TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (partner_id, idem_key)
) WITHOUT ROWID;
CREATE INDEX partner_idempotency_created ON partner_idempotency(created_at);
