-- AutoSSL renewal and deployment (issue 7): ARI id and serial of the current certificate, when it
-- is to be renewed (ARI suggested window, fallback 2/3 of its lifetime), retry backoff after
-- failures, the 14-day expiry alert, and a log of orders placed (paced under the CA's limits).
ALTER TABLE autossl_certificates ADD COLUMN serial TEXT NOT NULL DEFAULT '';
ALTER TABLE autossl_certificates ADD COLUMN ari_id TEXT NOT NULL DEFAULT '';
ALTER TABLE autossl_certificates ADD COLUMN renew_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE autossl_certificates ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE autossl_certificates ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE autossl_certificates ADD COLUMN expiring_alerted_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE autossl_certificates ADD COLUMN deployed_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX autossl_certificates_renew ON autossl_certificates(renew_at);

CREATE TABLE autossl_orders (
  id INTEGER PRIMARY KEY,
  site_id TEXT NOT NULL,
  domain TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX autossl_orders_time ON autossl_orders(created_at);
