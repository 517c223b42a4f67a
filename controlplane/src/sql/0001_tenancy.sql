-- Tenancy: partners -> organizations -> users through memberships (see controlplane/README).
CREATE TABLE partners (
  id          INTEGER PRIMARY KEY,
  public_id   TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  channel     TEXT NOT NULL CHECK (channel IN ('direct','agency','reseller','oem')),
  status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','suspended')),
  created_at  INTEGER NOT NULL
);

CREATE TABLE organizations (
  id            INTEGER PRIMARY KEY,
  public_id     TEXT NOT NULL UNIQUE,
  partner_id    INTEGER NOT NULL REFERENCES partners(id),
  name          TEXT NOT NULL,
  status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','suspended','terminated')),
  ip_allowlist  TEXT NOT NULL DEFAULT '[]',   -- JSON array of CIDRs
  version       INTEGER NOT NULL DEFAULT 1,   -- ETag
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX organizations_partner ON organizations(partner_id, id);

CREATE TABLE users (
  id                INTEGER PRIMARY KEY,
  public_id         TEXT NOT NULL UNIQUE,
  email             TEXT NOT NULL UNIQUE COLLATE NOCASE,
  name              TEXT NOT NULL DEFAULT '',
  password_hash     TEXT NOT NULL,
  email_verified    INTEGER NOT NULL DEFAULT 0,
  is_staff          INTEGER NOT NULL DEFAULT 0,
  totp_secret       TEXT NOT NULL DEFAULT '',   -- sealed; '' when not enrolled
  totp_enabled      INTEGER NOT NULL DEFAULT 0,
  totp_last_step    INTEGER NOT NULL DEFAULT 0,
  failed_logins     INTEGER NOT NULL DEFAULT 0,
  locked_until      INTEGER NOT NULL DEFAULT 0,
  password_changed_at INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);

CREATE TABLE memberships (
  organization_id INTEGER NOT NULL REFERENCES organizations(id),
  user_id         INTEGER NOT NULL REFERENCES users(id),
  role            TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE recovery_codes (
  user_id    INTEGER NOT NULL REFERENCES users(id),
  code_hash  TEXT NOT NULL,     -- SHA-256 hex of the normalised code
  used_at    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, code_hash)
);

-- One-time e-mail tokens: verification, password reset, invitation acceptance.
CREATE TABLE email_tokens (
  token_hash  TEXT PRIMARY KEY,  -- SHA-256 hex; the token itself is only in the e-mail
  purpose     TEXT NOT NULL CHECK (purpose IN ('verify','reset')),
  user_id     INTEGER NOT NULL REFERENCES users(id),
  expires_at  INTEGER NOT NULL,
  used_at     INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL
);

CREATE TABLE invitations (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  organization_id INTEGER NOT NULL REFERENCES organizations(id),
  email           TEXT NOT NULL COLLATE NOCASE,
  role            TEXT NOT NULL,
  token_hash      TEXT NOT NULL UNIQUE,
  invited_by      INTEGER NOT NULL REFERENCES users(id),
  expires_at      INTEGER NOT NULL,
  accepted_at     INTEGER NOT NULL DEFAULT 0,
  revoked_at      INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL
);
CREATE INDEX invitations_org ON invitations(organization_id, id);

CREATE TABLE sessions (
  id           INTEGER PRIMARY KEY,
  token_hash   TEXT NOT NULL UNIQUE,
  user_id      INTEGER NOT NULL REFERENCES users(id),
  csrf_hash    TEXT NOT NULL,
  source_ip    TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,   -- absolute expiry
  revoked_at   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  organization_id INTEGER NOT NULL REFERENCES organizations(id),
  user_id         INTEGER NOT NULL REFERENCES users(id),   -- creator; the token acts as them
  name            TEXT NOT NULL,
  secret_hash     TEXT NOT NULL,                           -- SHA-256 hex of the secret part
  scopes          TEXT NOT NULL,                           -- JSON array of permissions
  ip_allowlist    TEXT NOT NULL DEFAULT '[]',
  expires_at      INTEGER NOT NULL DEFAULT 0,              -- 0: never
  last_used_at    INTEGER NOT NULL DEFAULT 0,
  revoked_at      INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL
);
CREATE INDEX api_tokens_org ON api_tokens(organization_id, id);

-- Responses of creating POSTs, replayed for a repeated Idempotency-Key.
CREATE TABLE idempotency_keys (
  principal     TEXT NOT NULL,
  key           TEXT NOT NULL,
  request_hash  TEXT NOT NULL,
  status        INTEGER NOT NULL,
  body          TEXT NOT NULL,
  headers       TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  PRIMARY KEY (principal, key)
);

-- The provider itself is the direct partner.
INSERT INTO partners(public_id, name, channel, created_at) VALUES ('direct', 'Direct', 'direct', 0);
