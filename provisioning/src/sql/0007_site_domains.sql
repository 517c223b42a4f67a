-- Names added to a shared-hosting site besides its own domain and www.<domain> (AutoSSL, issue 7).
CREATE TABLE prov_site_domains (
  site_public_id  TEXT NOT NULL,
  organization_id TEXT NOT NULL,
  domain          TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (site_public_id, domain)
);
CREATE INDEX prov_site_domains_domain ON prov_site_domains(domain);
