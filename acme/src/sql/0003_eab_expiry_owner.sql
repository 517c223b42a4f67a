-- EAB credentials with an expiry (partner-minted keys, issue 9): 0 means none. Certificates are
-- attributed to the EAB owner ("organization:<id>") through the account the key bound and its
-- orders (acme_orders_account), so certificate inserts get no extra index.
ALTER TABLE acme_eab_keys ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX acme_eab_keys_owner ON acme_eab_keys(owner, bound_account_id);
CREATE INDEX acme_eab_keys_bound ON acme_eab_keys(bound_account_id) WHERE bound_account_id IS NOT NULL;
