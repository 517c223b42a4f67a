-- VPS lifecycle operations: the latest operation's job (one runs at a time per VPS) and
-- snapshots, scoped by organization like every customer row.
ALTER TABLE prov_vps ADD COLUMN op_job TEXT NOT NULL DEFAULT '';

CREATE TABLE prov_vps_snapshots (
  id              INTEGER PRIMARY KEY,
  vps_id          TEXT NOT NULL,
  organization_id TEXT NOT NULL,
  name            TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('creating','ready','deleting','failed')),
  created_at      INTEGER NOT NULL,
  UNIQUE (vps_id, name)
);
CREATE INDEX prov_vps_snapshots_org ON prov_vps_snapshots(organization_id, vps_id);
