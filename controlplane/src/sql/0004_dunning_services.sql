-- Services that dunning took down (issue 8): reactivation brings back exactly these, never a
-- site, VPS or server the customer (or an operator) had stopped themselves. A row is written
-- before the provisioning call, so a repeated suspension after a crash finds it again.
CREATE TABLE dunning_suspended_services (
  organization_id TEXT NOT NULL,     -- public id
  kind            TEXT NOT NULL CHECK (kind IN ('site', 'vps', 'dedicated')),
  resource_id     TEXT NOT NULL,     -- public id of the site / VPS / dedicated server
  suspended_at    INTEGER NOT NULL,  -- unix microseconds
  PRIMARY KEY (organization_id, kind, resource_id)
) WITHOUT ROWID;
