-- Agency commissions (one row per ledger commission transaction) and refunds of invoices (each
-- paired with the credit note it produced). Both append-only.
CREATE TABLE billing_commissions (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  partner_id      TEXT NOT NULL,
  organization_id TEXT NOT NULL,
  kind            TEXT NOT NULL,            -- 'commission' | 'reversal'
  invoice_id      TEXT NOT NULL,
  document_id     TEXT NOT NULL,            -- the invoice, or the credit note of a reversal
  accrual_date    TEXT NOT NULL,
  base            INTEGER NOT NULL,
  rate_bp         INTEGER NOT NULL,
  amount          INTEGER NOT NULL,
  ledger_txn_id   TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  UNIQUE (kind, document_id)
);
CREATE INDEX billing_commissions_partner ON billing_commissions(partner_id, accrual_date);
CREATE INDEX billing_commissions_invoice ON billing_commissions(organization_id, invoice_id);
CREATE TRIGGER billing_commissions_noupdate BEFORE UPDATE ON billing_commissions
  BEGIN SELECT RAISE(ABORT, 'commission rows are append-only'); END;
CREATE TRIGGER billing_commissions_nodelete BEFORE DELETE ON billing_commissions
  BEGIN SELECT RAISE(ABORT, 'commission rows are append-only'); END;

CREATE TABLE billing_refunds (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  invoice_id      TEXT NOT NULL,
  payment_id      TEXT NOT NULL,
  credit_note_id  TEXT NOT NULL,
  amount          INTEGER NOT NULL,
  reason          TEXT NOT NULL,
  created_at      INTEGER NOT NULL
);
CREATE INDEX billing_refunds_org ON billing_refunds(organization_id, invoice_id);
