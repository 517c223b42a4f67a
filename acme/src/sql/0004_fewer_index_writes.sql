-- Replay-window keys now start with the nonce's issue time in microseconds (hp/acme/nonce.h), so
-- the table's own order is the pruning order and the expires index only cost a second b-tree
-- insert per redemption. Rows written before this change carry issue times in seconds: their
-- nonces read as issued in 1970 now and are refused as expired, so the rows can go.
DROP INDEX acme_used_nonces_expires;
DELETE FROM acme_used_nonces;

-- The reuse lookups (account, name) read status and expiry from the row: with them in the key,
-- every authorization update (pending -> processing -> valid) moved its index entry, a random page
-- written per update.
DROP INDEX acme_authz_reuse;
CREATE INDEX acme_authz_name ON acme_authz(account_id, identifier_value);
