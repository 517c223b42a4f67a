-- Data keys of the Sealer (see hp/core/sealer.h). Each key is 32 random bytes stored only wrapped
-- (AES-256-GCM) by the master key, whose fingerprint is kept to name a wrong key file clearly.
CREATE TABLE data_keys (
  id            INTEGER PRIMARY KEY,      -- appears (4 bytes BE) in every sealed value
  wrapped       BLOB NOT NULL,            -- nonce(12) || ciphertext(32) || tag(16)
  master_key_id TEXT NOT NULL,            -- fingerprint of the wrapping master key
  created_at    INTEGER NOT NULL          -- unix microseconds
);
