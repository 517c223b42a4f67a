-- ACME persistence (acme/src/sa). Times are unix microseconds; public ids are random base64url.
CREATE TABLE acme_secrets (
  name       TEXT PRIMARY KEY,
  value      BLOB NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Replay window of redeemed nonces (hp/acme/nonce.h); rows outlive the nonce lifetime.
CREATE TABLE acme_used_nonces (
  id      BLOB PRIMARY KEY,
  expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX acme_used_nonces_expires ON acme_used_nonces(expires);

CREATE TABLE acme_accounts (
  id             INTEGER PRIMARY KEY,
  public_id      TEXT NOT NULL UNIQUE,
  key_thumbprint TEXT NOT NULL UNIQUE,
  jwk            TEXT NOT NULL,           -- canonical JWK
  contact        TEXT NOT NULL DEFAULT '[]',
  status         TEXT NOT NULL CHECK (status IN ('valid','deactivated','revoked')),
  tos_agreed     INTEGER NOT NULL DEFAULT 0,
  eab_kid        TEXT,
  created_ip     TEXT NOT NULL DEFAULT '',
  created_at     INTEGER NOT NULL
);

CREATE TABLE acme_eab_keys (
  id               INTEGER PRIMARY KEY,
  kid              TEXT NOT NULL UNIQUE,
  hmac_key         BLOB NOT NULL,
  owner            TEXT NOT NULL DEFAULT '',  -- "operator", a partner id ...
  created_at       INTEGER NOT NULL,
  bound_account_id INTEGER,
  bound_at         INTEGER
);

CREATE TABLE acme_orders (
  id             INTEGER PRIMARY KEY,
  public_id      TEXT NOT NULL UNIQUE,
  account_id     INTEGER NOT NULL,
  status         TEXT NOT NULL CHECK (status IN ('pending','ready','processing','valid','invalid')),
  identifiers    TEXT NOT NULL,             -- JSON array of {type,value}
  authz          TEXT NOT NULL,             -- JSON array of authorization public ids
  profile        TEXT NOT NULL,
  replaces       TEXT NOT NULL DEFAULT '',  -- ARI certificate id
  not_before     INTEGER NOT NULL DEFAULT 0,
  not_after      INTEGER NOT NULL DEFAULT 0,
  expires        INTEGER NOT NULL,
  error          TEXT NOT NULL DEFAULT '',  -- problem JSON once invalid
  certificate_id TEXT NOT NULL DEFAULT '',
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders(account_id, id);

-- One row per authorization; its challenges share the token (like Boulder), and only the one the
-- client chose is ever validated.
CREATE TABLE acme_authz (
  id                INTEGER PRIMARY KEY,
  public_id         TEXT NOT NULL UNIQUE,
  account_id        INTEGER NOT NULL,
  identifier_type   TEXT NOT NULL,
  identifier_value  TEXT NOT NULL,
  wildcard          INTEGER NOT NULL DEFAULT 0,
  status            TEXT NOT NULL CHECK (status IN ('pending','valid','invalid','deactivated',
                                                    'expired','revoked')),
  expires           INTEGER NOT NULL,
  token             TEXT NOT NULL,
  challenge_types   TEXT NOT NULL,            -- "http-01,dns-01,tls-alpn-01"
  chall_type        TEXT NOT NULL DEFAULT '', -- the challenge the client answered
  chall_status      TEXT NOT NULL DEFAULT 'pending',
  validated_at      INTEGER NOT NULL DEFAULT 0,
  error             TEXT NOT NULL DEFAULT '',
  validation_record TEXT NOT NULL DEFAULT '',
  created_at        INTEGER NOT NULL
);
CREATE INDEX acme_authz_reuse
  ON acme_authz(account_id, identifier_type, identifier_value, status, expires);

CREATE TABLE acme_certificates (
  id             INTEGER PRIMARY KEY,
  public_id      TEXT NOT NULL UNIQUE,
  serial         TEXT NOT NULL UNIQUE,   -- lower-case hex
  ari_id         TEXT NOT NULL UNIQUE,   -- base64url(AKI) "." base64url(serial)
  account_id     INTEGER NOT NULL,
  order_id       INTEGER NOT NULL,
  issuer_id      TEXT NOT NULL,
  profile        TEXT NOT NULL,
  names          TEXT NOT NULL,          -- JSON array of {type,value}
  spki_hash      TEXT NOT NULL,          -- hex SHA-256 of the SubjectPublicKeyInfo
  der            BLOB NOT NULL,
  not_before     INTEGER NOT NULL,
  not_after      INTEGER NOT NULL,
  revoked_at     INTEGER NOT NULL DEFAULT 0,
  revoked_reason INTEGER NOT NULL DEFAULT 0,
  replaced_by    TEXT NOT NULL DEFAULT '',  -- order public id that replaced it (ARI)
  created_at     INTEGER NOT NULL
);
CREATE INDEX acme_certificates_revoked ON acme_certificates(issuer_id, revoked_at)
  WHERE revoked_at > 0;

-- Keys we refuse in CSRs (compromised: revoked with keyCompromise, or imported lists).
CREATE TABLE acme_blocked_keys (
  spki_hash TEXT PRIMARY KEY,
  reason    TEXT NOT NULL,
  added_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- GCRA rate limit state: theoretical arrival time per key (Boulder's ratelimits design).
CREATE TABLE acme_rate_limits (
  key TEXT PRIMARY KEY,
  tat INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE acme_crls (
  issuer_id   TEXT PRIMARY KEY,
  number      INTEGER NOT NULL,
  der         BLOB NOT NULL,
  this_update INTEGER NOT NULL,
  next_update INTEGER NOT NULL,
  dirty_since INTEGER NOT NULL DEFAULT 0   -- > 0: a revocation is not yet in the CRL
) WITHOUT ROWID;
