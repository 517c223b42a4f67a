-- Billing: catalog, price lists, accounts, subscriptions, charges, usage, invoices, ledger.
-- Money columns are integer yen; dates are 'YYYY-MM-DD' (UTC); times are unix microseconds.
CREATE TABLE billing_products (
  id           INTEGER PRIMARY KEY,
  code         TEXT NOT NULL UNIQUE,
  kind         TEXT NOT NULL,
  name         TEXT NOT NULL,
  tax_percent  INTEGER NOT NULL,
  usage_metric TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL
);
CREATE INDEX billing_products_metric ON billing_products(usage_metric) WHERE usage_metric != '';

-- List prices (partner_id = '' and kind = 'list'), the default wholesale list (partner_id = '',
-- kind = 'wholesale') and per-partner wholesale overrides and sell prices.
CREATE TABLE billing_prices (
  id             INTEGER PRIMARY KEY,
  partner_id     TEXT NOT NULL DEFAULT '',
  kind           TEXT NOT NULL,
  product_code   TEXT NOT NULL,
  period         TEXT NOT NULL,
  price          INTEGER NOT NULL,
  setup_fee      INTEGER NOT NULL,
  effective_from TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  UNIQUE (partner_id, kind, product_code, period, effective_from)
);

CREATE TABLE billing_partners (
  partner_id              TEXT PRIMARY KEY,
  channel                 TEXT NOT NULL,
  commission_bp           INTEGER NOT NULL DEFAULT 0,
  issuer_name             TEXT NOT NULL DEFAULT '',
  issuer_registration     TEXT NOT NULL DEFAULT '',
  issuer_address          TEXT NOT NULL DEFAULT '',
  invoice_prefix          TEXT NOT NULL DEFAULT '',
  billing_organization_id TEXT NOT NULL DEFAULT '',
  updated_at              INTEGER NOT NULL
);

CREATE TABLE billing_accounts (
  organization_id TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  channel         TEXT NOT NULL,
  partner_id      TEXT NOT NULL DEFAULT '',
  updated_at      INTEGER NOT NULL
);

CREATE TABLE billing_subscriptions (
  id                   INTEGER PRIMARY KEY,
  public_id            TEXT NOT NULL UNIQUE,
  organization_id      TEXT NOT NULL,
  product_code         TEXT NOT NULL,
  period               TEXT NOT NULL,
  state                TEXT NOT NULL,
  anchor_date          TEXT NOT NULL DEFAULT '',
  period_start         TEXT NOT NULL DEFAULT '',
  period_end           TEXT NOT NULL DEFAULT '',
  period_price         INTEGER NOT NULL DEFAULT 0,
  cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
  channel              TEXT NOT NULL,
  partner_id           TEXT NOT NULL DEFAULT '',
  idempotency_key      TEXT NOT NULL DEFAULT '',
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL
);
CREATE INDEX billing_subscriptions_org ON billing_subscriptions(organization_id);
CREATE INDEX billing_subscriptions_due ON billing_subscriptions(period_end)
  WHERE state IN ('active', 'suspended');
CREATE UNIQUE INDEX billing_subscriptions_idem ON billing_subscriptions(organization_id, idempotency_key)
  WHERE idempotency_key != '';

-- Uninvoiced (invoice_id IS NULL) and invoiced charges; negative amounts are credits.
CREATE TABLE billing_charges (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL DEFAULT '',
  kind            TEXT NOT NULL,
  description     TEXT NOT NULL,
  quantity        INTEGER NOT NULL,
  unit_price      INTEGER NOT NULL,
  tax_percent     INTEGER NOT NULL,
  period_start    TEXT NOT NULL,
  period_end      TEXT NOT NULL,
  invoice_id      TEXT,
  created_at      INTEGER NOT NULL
);
CREATE INDEX billing_charges_pending ON billing_charges(organization_id) WHERE invoice_id IS NULL;

CREATE TABLE billing_usage (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  metric          TEXT NOT NULL,
  quantity        INTEGER NOT NULL,
  occurred_at     INTEGER NOT NULL,
  idempotency_key TEXT NOT NULL,
  charge_id       TEXT,
  created_at      INTEGER NOT NULL,
  UNIQUE (organization_id, idempotency_key)
);
CREATE INDEX billing_usage_unrated ON billing_usage(subscription_id, occurred_at) WHERE charge_id IS NULL;

-- Gapless numbering: one row per series, bumped in the issuing transaction.
CREATE TABLE billing_invoice_series (
  series   TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL
);

CREATE TABLE billing_invoices (
  id                  INTEGER PRIMARY KEY,
  public_id           TEXT NOT NULL UNIQUE,
  organization_id     TEXT NOT NULL,
  kind                TEXT NOT NULL,
  series              TEXT NOT NULL,
  seq                 INTEGER NOT NULL,
  number              TEXT NOT NULL UNIQUE,
  issuer_name         TEXT NOT NULL,
  issuer_registration TEXT NOT NULL,
  issuer_address      TEXT NOT NULL,
  recipient_name      TEXT NOT NULL,
  issue_date          TEXT NOT NULL,
  period_start        TEXT NOT NULL,
  period_end          TEXT NOT NULL,
  due_date            TEXT NOT NULL,
  rounding            TEXT NOT NULL,
  subtotal            INTEGER NOT NULL,
  tax                 INTEGER NOT NULL,
  total               INTEGER NOT NULL,
  corrects_invoice_id TEXT NOT NULL DEFAULT '',
  note                TEXT NOT NULL DEFAULT '',
  status              TEXT NOT NULL,
  amount_paid         INTEGER NOT NULL DEFAULT 0,
  created_at          INTEGER NOT NULL,
  UNIQUE (series, seq)
);
CREATE INDEX billing_invoices_org ON billing_invoices(organization_id, seq);

CREATE TABLE billing_invoice_lines (
  invoice_id  INTEGER NOT NULL REFERENCES billing_invoices(id),
  line_no     INTEGER NOT NULL,
  description TEXT NOT NULL,
  quantity    INTEGER NOT NULL,
  unit_price  INTEGER NOT NULL,
  amount      INTEGER NOT NULL,
  tax_percent INTEGER NOT NULL,
  PRIMARY KEY (invoice_id, line_no)
);
CREATE TABLE billing_invoice_taxes (
  invoice_id  INTEGER NOT NULL REFERENCES billing_invoices(id),
  tax_percent INTEGER NOT NULL,
  subtotal    INTEGER NOT NULL,
  tax         INTEGER NOT NULL,
  PRIMARY KEY (invoice_id, tax_percent)
);

-- Issued documents are immutable; only status and amount_paid move.
CREATE TRIGGER billing_invoices_immutable BEFORE UPDATE OF organization_id, kind, series, seq,
  number, issuer_name, issuer_registration, issuer_address, recipient_name, issue_date,
  period_start, period_end, due_date, rounding, subtotal, tax, total, corrects_invoice_id
  ON billing_invoices BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable'); END;
CREATE TRIGGER billing_invoices_nodelete BEFORE DELETE ON billing_invoices
  BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable'); END;
CREATE TRIGGER billing_invoice_lines_noupdate BEFORE UPDATE ON billing_invoice_lines
  BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable'); END;
CREATE TRIGGER billing_invoice_lines_nodelete BEFORE DELETE ON billing_invoice_lines
  BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable'); END;
CREATE TRIGGER billing_invoice_taxes_noupdate BEFORE UPDATE ON billing_invoice_taxes
  BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable'); END;
CREATE TRIGGER billing_invoice_taxes_nodelete BEFORE DELETE ON billing_invoice_taxes
  BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable'); END;

CREATE TABLE billing_ledger (
  id              INTEGER PRIMARY KEY,
  txn_id          TEXT NOT NULL,
  kind            TEXT NOT NULL,
  reference       TEXT NOT NULL,
  account         TEXT NOT NULL,
  organization_id TEXT NOT NULL,
  amount          INTEGER NOT NULL,
  created_at      INTEGER NOT NULL
);
CREATE INDEX billing_ledger_account ON billing_ledger(organization_id, account);
CREATE INDEX billing_ledger_txn ON billing_ledger(txn_id);
CREATE TRIGGER billing_ledger_noupdate BEFORE UPDATE ON billing_ledger
  BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
CREATE TRIGGER billing_ledger_nodelete BEFORE DELETE ON billing_ledger
  BEGIN SELECT RAISE(ABORT, 'ledger rows are append-only'); END;
