-- AutoSSL www bundling (issue 7): when a site has both <name> and www.<name>, one certificate names
-- both. The www row carries the same chain (deployed for its name) and points at the row that is
-- ordered, renewed and revoked: bundled_with = '<name>' ('' for a certificate of its own).
ALTER TABLE autossl_certificates ADD COLUMN bundled_with TEXT NOT NULL DEFAULT '';
