-- Durable jobs (see hp/core/jobs.h).
CREATE TABLE jobs (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  kind            TEXT NOT NULL,
  payload         TEXT NOT NULL,
  idempotency_key TEXT,
  organization_id TEXT NOT NULL DEFAULT '',
  state           TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','dead','cancelled')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  max_attempts    INTEGER NOT NULL,
  run_at          INTEGER NOT NULL,          -- unix microseconds
  lease_owner     TEXT NOT NULL DEFAULT '',
  lease_expires   INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',
  result          TEXT NOT NULL DEFAULT 'null',
  progress        TEXT NOT NULL DEFAULT 'null',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  finished_at     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs(kind, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_due ON jobs(state, run_at);
CREATE INDEX jobs_org ON jobs(organization_id, created_at);
