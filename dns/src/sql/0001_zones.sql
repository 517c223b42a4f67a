-- Hosted zones and their records. Owner names and targets are stored absolute, lower case, with
-- the trailing dot; record data in canonical presentation format (as ldns prints it).
CREATE TABLE dns_zones (
  id INTEGER PRIMARY KEY,
  public_id TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  name TEXT NOT NULL UNIQUE,
  default_ttl INTEGER NOT NULL,
  soa_ttl INTEGER NOT NULL,
  soa_mname TEXT NOT NULL,
  soa_rname TEXT NOT NULL,
  soa_serial INTEGER NOT NULL,
  soa_refresh INTEGER NOT NULL,
  soa_retry INTEGER NOT NULL,
  soa_expire INTEGER NOT NULL,
  soa_minimum INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX dns_zones_org ON dns_zones(organization_id);

CREATE TABLE dns_records (
  id INTEGER PRIMARY KEY,
  public_id TEXT NOT NULL UNIQUE,
  zone_id INTEGER NOT NULL REFERENCES dns_zones(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  ttl INTEGER NOT NULL,
  data TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (zone_id, name, type, data)
);
CREATE INDEX dns_records_zone_name ON dns_records(zone_id, name);
