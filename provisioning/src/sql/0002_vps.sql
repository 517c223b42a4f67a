-- VPS instances. Every row carries its organization; every query is scoped by it.
CREATE TABLE prov_vps (
  id                  INTEGER PRIMARY KEY,
  public_id           TEXT NOT NULL UNIQUE,
  organization_id     TEXT NOT NULL,
  hostname            TEXT NOT NULL,
  state               TEXT NOT NULL CHECK (state IN
                        ('provisioning','running','stopped','deleting','deleted','failed')),
  vcpus               INTEGER NOT NULL,
  ram_mib             INTEGER NOT NULL,
  disk_gib            INTEGER NOT NULL,
  template            TEXT NOT NULL,
  zone                TEXT NOT NULL,
  anti_affinity_group TEXT NOT NULL DEFAULT '',
  ssh_key             TEXT NOT NULL DEFAULT '',
  host_public_id      TEXT NOT NULL DEFAULT '',
  host_uri            TEXT NOT NULL DEFAULT '',
  domain_name         TEXT NOT NULL,
  ipv4                TEXT NOT NULL DEFAULT '',
  ipv6                TEXT NOT NULL DEFAULT '',
  create_job          TEXT NOT NULL DEFAULT '',
  last_error          TEXT NOT NULL DEFAULT '',
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL
);
CREATE INDEX prov_vps_org ON prov_vps(organization_id, created_at);
CREATE INDEX prov_vps_domain ON prov_vps(host_uri, domain_name);
