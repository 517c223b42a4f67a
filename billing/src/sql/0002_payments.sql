-- Payments (card through the gateway, bank transfer marked by an operator), processed gateway
-- webhook events (idempotency), and dunning cases.
CREATE TABLE billing_payments (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  invoice_id      TEXT NOT NULL,
  method          TEXT NOT NULL,
  gateway_ref     TEXT NOT NULL DEFAULT '',
  amount          INTEGER NOT NULL,
  refunded        INTEGER NOT NULL DEFAULT 0,
  state           TEXT NOT NULL,
  reference       TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX billing_payments_org ON billing_payments(organization_id, invoice_id);
CREATE UNIQUE INDEX billing_payments_gateway ON billing_payments(gateway_ref) WHERE gateway_ref != '';

CREATE TABLE billing_gateway_events (
  event_id    TEXT PRIMARY KEY,
  type        TEXT NOT NULL,
  gateway_ref TEXT NOT NULL,
  outcome     TEXT NOT NULL,
  received_at INTEGER NOT NULL
);

CREATE TABLE billing_dunning (
  invoice_id      TEXT PRIMARY KEY,
  organization_id TEXT NOT NULL,
  due_date        TEXT NOT NULL,
  stage           TEXT NOT NULL,
  reminders_sent  INTEGER NOT NULL DEFAULT 0,
  deletion_date   TEXT NOT NULL DEFAULT '',
  updated_at      INTEGER NOT NULL
);
CREATE INDEX billing_dunning_org ON billing_dunning(organization_id, stage);
