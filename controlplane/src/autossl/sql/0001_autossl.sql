-- AutoSSL (issue 7): the control plane's ACME account per directory and one certificate record per
-- site domain. Private keys are sealed (core::Sealer) with associated data naming their row.
CREATE TABLE autossl_accounts (
  directory_url TEXT PRIMARY KEY,
  key_sealed TEXT NOT NULL,          -- EC P-256 PEM, AD "autossl:account:<directory_url>"
  account_url TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);

CREATE TABLE autossl_certificates (
  organization_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  domain TEXT NOT NULL,
  status TEXT NOT NULL,              -- pending, issuing, valid, failed
  last_error TEXT NOT NULL DEFAULT '',
  certificate_pem TEXT NOT NULL DEFAULT '',  -- chain, leaf first
  key_sealed TEXT NOT NULL DEFAULT '',       -- AD "autossl:cert:<site_id>:<domain>"
  not_after INTEGER,
  issued_at INTEGER,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (site_id, domain)
);
CREATE INDEX autossl_certificates_org ON autossl_certificates(organization_id, domain);
