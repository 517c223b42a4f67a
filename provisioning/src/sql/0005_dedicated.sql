-- Dedicated servers: one per claimed dedicated host, scoped by organization.
CREATE TABLE prov_dedicated (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  hostname        TEXT NOT NULL,
  zone            TEXT NOT NULL,
  template        TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN
                    ('allocating','active','releasing','released','failed')),
  host_public_id  TEXT NOT NULL DEFAULT '',
  powered_on      INTEGER NOT NULL DEFAULT 0,
  op_job          TEXT NOT NULL DEFAULT '',
  last_error      TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX prov_dedicated_org ON prov_dedicated(organization_id, created_at);
