-- Partner channels (partner-portal/). Partners and organizations live in the control plane's
-- tenancy tables; rows here refer to them by public id. Times are unix microseconds.

-- Partner API keys: the secret is sealed (AES-GCM) because request signatures are verified with
-- it. A rotated key keeps working until expires_at (the overlap), a revoked one never again.
CREATE TABLE partner_api_keys (
  id            INTEGER PRIMARY KEY,
  public_id     TEXT NOT NULL UNIQUE,
  partner_id    TEXT NOT NULL,
  name          TEXT NOT NULL DEFAULT '',
  secret_sealed TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL DEFAULT 0,   -- 0: no expiry (set when rotated)
  revoked_at    INTEGER NOT NULL DEFAULT 0,
  last_used_at  INTEGER NOT NULL DEFAULT 0,
  replaced_by   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX partner_api_keys_partner ON partner_api_keys(partner_id, id);

-- Signatures already accepted, kept until they could no longer pass the clock-skew check.
CREATE TABLE partner_seen_signatures (
  key_id      TEXT NOT NULL,
  signature   TEXT NOT NULL,
  expires_at  INTEGER NOT NULL,
  PRIMARY KEY (key_id, signature)
) WITHOUT ROWID;
CREATE INDEX partner_seen_signatures_expires ON partner_seen_signatures(expires_at);

-- White-label branding, one document per partner; panel_host is unique across partners.
CREATE TABLE partner_branding (
  partner_id  TEXT PRIMARY KEY,
  panel_host  TEXT UNIQUE,
  doc         TEXT NOT NULL,
  updated_at  INTEGER NOT NULL
);

-- EAB credentials a partner minted for one of its customer organizations. The MAC key itself is
-- in acme_eab_keys (acme module); single use is enforced there when an account binds it.
CREATE TABLE partner_eab_keys (
  kid              TEXT PRIMARY KEY,
  partner_id       TEXT NOT NULL,
  organization_id  TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL
);
CREATE INDEX partner_eab_keys_org ON partner_eab_keys(organization_id);

-- Webhooks: subscriptions by a partner or an organization, events, one delivery per
-- (event, subscription), and one row per HTTP attempt (the delivery log).
CREATE TABLE webhook_subscriptions (
  id            INTEGER PRIMARY KEY,
  public_id     TEXT NOT NULL UNIQUE,
  owner_type    TEXT NOT NULL CHECK (owner_type IN ('partner','organization')),
  owner_id      TEXT NOT NULL,
  url           TEXT NOT NULL,
  events        TEXT NOT NULL,               -- JSON array of event types
  secret_sealed TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  deleted_at    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_subscriptions_owner ON webhook_subscriptions(owner_type, owner_id);

CREATE TABLE webhook_events (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,      -- the event id receivers de-duplicate by
  type            TEXT NOT NULL,
  organization_id TEXT NOT NULL DEFAULT '',
  partner_id      TEXT NOT NULL DEFAULT '',
  body            TEXT NOT NULL,             -- the exact JSON sent
  created_at      INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
  id               INTEGER PRIMARY KEY,
  public_id        TEXT NOT NULL UNIQUE,
  event_id         INTEGER NOT NULL REFERENCES webhook_events(id),
  subscription_id  INTEGER NOT NULL REFERENCES webhook_subscriptions(id),
  state            TEXT NOT NULL CHECK (state IN ('pending','retrying','delivered','failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  next_attempt_at  INTEGER NOT NULL DEFAULT 0,
  last_status      INTEGER NOT NULL DEFAULT 0,
  last_error       TEXT NOT NULL DEFAULT '',
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries(subscription_id, id);

CREATE TABLE webhook_attempts (
  delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries(id),
  number       INTEGER NOT NULL,
  at           INTEGER NOT NULL,
  http_status  INTEGER NOT NULL DEFAULT 0,   -- 0: no HTTP answer
  error        TEXT NOT NULL DEFAULT '',
  duration_ms  INTEGER NOT NULL DEFAULT 0,
  manual       INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (delivery_id, number)
);
