-- Agency commission payouts (one per agency and closed month), agency referral codes and their
-- redemptions (one per organization), and credit notes issued for refunds made in the card
-- gateway's own dashboard (one per gateway event).
CREATE TABLE billing_commission_payouts (
  id              INTEGER PRIMARY KEY,
  public_id       TEXT NOT NULL UNIQUE,
  partner_id      TEXT NOT NULL,
  month           TEXT NOT NULL,            -- 'YYYY-MM' (UTC accrual month)
  amount          INTEGER NOT NULL,
  reference       TEXT NOT NULL,            -- the bank transfer's reference
  ledger_txn_id   TEXT NOT NULL,
  paid_at         INTEGER NOT NULL,
  UNIQUE (partner_id, month)
);
CREATE TRIGGER billing_commission_payouts_noupdate BEFORE UPDATE ON billing_commission_payouts
  BEGIN SELECT RAISE(ABORT, 'payout rows are append-only'); END;
CREATE TRIGGER billing_commission_payouts_nodelete BEFORE DELETE ON billing_commission_payouts
  BEGIN SELECT RAISE(ABORT, 'payout rows are append-only'); END;

CREATE TABLE billing_referral_codes (
  id              INTEGER PRIMARY KEY,
  code            TEXT NOT NULL UNIQUE,
  partner_id      TEXT NOT NULL,
  created_at      INTEGER NOT NULL
);
CREATE INDEX billing_referral_codes_partner ON billing_referral_codes(partner_id);

CREATE TABLE billing_referral_redemptions (
  id              INTEGER PRIMARY KEY,
  organization_id TEXT NOT NULL UNIQUE,
  code            TEXT NOT NULL,
  partner_id      TEXT NOT NULL,
  redeemed_at     INTEGER NOT NULL
);

CREATE TABLE billing_gateway_refunds (
  id              INTEGER PRIMARY KEY,
  event_id        TEXT NOT NULL UNIQUE,
  organization_id TEXT NOT NULL,
  invoice_id      TEXT NOT NULL,
  payment_id      TEXT NOT NULL,
  credit_note_id  TEXT NOT NULL,
  amount          INTEGER NOT NULL,
  created_at      INTEGER NOT NULL
);
CREATE INDEX billing_gateway_refunds_org ON billing_gateway_refunds(organization_id);
