-- Shared hosting sites. desired_state is what the last API call asked for; state is what the
-- apply job has reached.
CREATE TABLE prov_sites (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  domain          TEXT NOT NULL,
  zone            TEXT NOT NULL,
  state           TEXT NOT NULL,
  desired_state   TEXT NOT NULL,
  system_user     TEXT NOT NULL,
  document_root   TEXT NOT NULL DEFAULT '',
  host_public_id  TEXT NOT NULL DEFAULT '',
  quota_mib       INTEGER NOT NULL,
  used_mib        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX prov_sites_org ON prov_sites(organization_id, created_at);
-- One live site per domain.
CREATE UNIQUE INDEX prov_sites_domain ON prov_sites(domain) WHERE state != 'terminated';
