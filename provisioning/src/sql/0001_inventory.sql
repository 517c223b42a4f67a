-- Inventory: hosts and their accounted usage, claims (allocations), templates, IP pools.
-- Times are unix microseconds. Integer ids stay inside the process; public_id is what leaves it.
CREATE TABLE prov_hosts (
  id                INTEGER PRIMARY KEY,
  public_id         TEXT NOT NULL UNIQUE,
  name              TEXT NOT NULL UNIQUE,
  uri               TEXT NOT NULL UNIQUE,
  zone              TEXT NOT NULL,
  kind              TEXT NOT NULL CHECK (kind IN ('shared-web','vps','dedicated')),
  state             TEXT NOT NULL CHECK (state IN ('active','draining','maintenance')),
  vcpus             INTEGER NOT NULL,
  ram_mib           INTEGER NOT NULL,
  disk_gib          INTEGER NOT NULL,
  reserved_vcpus    INTEGER NOT NULL DEFAULT 0,
  reserved_ram_mib  INTEGER NOT NULL DEFAULT 0,
  reserved_disk_gib INTEGER NOT NULL DEFAULT 0,
  cpu_ratio         REAL NOT NULL,
  ram_ratio         REAL NOT NULL,
  disk_ratio        REAL NOT NULL,
  -- Effective capacity, (total - reserved) * ratio, computed on write so placement reads integers.
  eff_vcpus         INTEGER NOT NULL,
  eff_ram_mib       INTEGER NOT NULL,
  eff_disk_gib      INTEGER NOT NULL,
  used_vcpus        INTEGER NOT NULL DEFAULT 0,
  used_ram_mib      INTEGER NOT NULL DEFAULT 0,
  used_disk_gib     INTEGER NOT NULL DEFAULT 0,
  allocations       INTEGER NOT NULL DEFAULT 0,
  storage_pool      TEXT NOT NULL DEFAULT 'default',
  bridge            TEXT NOT NULL DEFAULT '',
  web_root          TEXT NOT NULL DEFAULT '',
  dedicated_org     TEXT NOT NULL DEFAULT '',
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX prov_hosts_candidates ON prov_hosts(kind, state, zone);

-- One claim per consumer (VPS, dedicated server, site); the sums live in prov_hosts.used_*.
CREATE TABLE prov_allocations (
  id              INTEGER PRIMARY KEY,
  consumer_id     TEXT NOT NULL UNIQUE,
  host_id         INTEGER NOT NULL REFERENCES prov_hosts(id),
  organization_id TEXT NOT NULL,
  vcpus           INTEGER NOT NULL,
  ram_mib         INTEGER NOT NULL,
  disk_gib        INTEGER NOT NULL,
  affinity_group  TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL
);
CREATE INDEX prov_allocations_host ON prov_allocations(host_id);
CREATE INDEX prov_allocations_group ON prov_allocations(organization_id, affinity_group);

CREATE TABLE prov_templates (
  id           INTEGER PRIMARY KEY,
  public_id    TEXT NOT NULL UNIQUE,
  name         TEXT NOT NULL UNIQUE,
  pool         TEXT NOT NULL,
  volume       TEXT NOT NULL,
  format       TEXT NOT NULL,
  min_disk_gib INTEGER NOT NULL,
  kernel       TEXT NOT NULL DEFAULT '',
  initrd       TEXT NOT NULL DEFAULT '',
  cmdline      TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL
);

CREATE TABLE prov_ip_pools (
  id            INTEGER PRIMARY KEY,
  public_id     TEXT NOT NULL UNIQUE,
  name          TEXT NOT NULL UNIQUE,
  zone          TEXT NOT NULL,
  family        INTEGER NOT NULL CHECK (family IN (4, 6)),
  first_address TEXT NOT NULL,
  last_address  TEXT NOT NULL,
  prefix_length INTEGER NOT NULL,
  gateway       TEXT NOT NULL DEFAULT '',
  size          INTEGER NOT NULL,
  created_at    INTEGER NOT NULL
);
CREATE INDEX prov_ip_pools_zone ON prov_ip_pools(zone, family);

-- An address is its offset from the pool's first address.
CREATE TABLE prov_ip_allocations (
  id              INTEGER PRIMARY KEY,
  pool_id         INTEGER NOT NULL REFERENCES prov_ip_pools(id),
  offset          INTEGER NOT NULL,
  address         TEXT NOT NULL,
  family          INTEGER NOT NULL,
  organization_id TEXT NOT NULL,
  consumer_id     TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  UNIQUE (pool_id, offset),
  UNIQUE (consumer_id, family)
);

-- PTR records until dns/ serves them.
CREATE TABLE prov_ptr_records (
  address         TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  organization_id TEXT NOT NULL,
  updated_at      INTEGER NOT NULL
);
