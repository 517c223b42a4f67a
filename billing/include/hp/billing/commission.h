#pragma once
// Agency commissions (代理店手数料).
//
// An agency partner (Partner::channel == kAgency) earns commission_bp (1/100 %) of the
// tax-exclusive subtotal of its referred customers' invoices (Account::channel == kAgency and
// Account::partner_id == the agency) once the invoice is paid:
//
//   base       = invoice subtotal - subtotals of credit notes already issued against it
//   commission = floor(base x rate_bp / 10000)           rate_bp: the partner's rate when paid
//
// It is posted in the paying transaction as one double-entry ledger transaction (kind
// "commission", reference "invoice:<id>"):
//   commission_expense (customer organization)        +commission
//   commission_payable ("partner:<partner id>")       -commission
// A credit note against an invoice whose commission was posted (a refund, a correction)
// reverses, in the issuing transaction, floor(credit note subtotal x rate_bp / 10000) at the
// rate of the original posting, capped so that an invoice never reverses more than it earned
// (a full refund reverses exactly the commission). Reversal: the opposite postings, reference
// "credit_note:<id>".
//
// Each posting is also a row of billing_commissions (append-only) with its base, rate and the
// ledger transaction id, so a statement is computed from rows and every yen can be explained:
// line amount = floor(line base x line rate / 10000) (reversals capped as above), and the
// statement's net equals the sum of the ledger's commission_payable postings of its lines
// (CommissionStatement::ledger_net, checked by the tests).
//
// Idempotent: one commission per invoice and one reversal per credit note (unique rows); a
// retried hook changes nothing. Thread-safe.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hp/billing/billing.h"
#include "hp/billing/invoice.h"
#include "hp/billing/ledger.h"
#include "hp/billing/price_list.h"
#include "hp/core/json.h"

namespace hp::billing {

// Ledger organization id of an agency's commission_payable account: "partner:<partner id>".
std::string CommissionPayableOwner(const std::string& partner_id);

enum class CommissionKind { kCommission, kReversal };
std::string_view CommissionKindName(CommissionKind k);  // "commission", "reversal"

struct CommissionLine {
  std::string id;  // public id of the commission row
  CommissionKind kind = CommissionKind::kCommission;
  Date date;                    // accrual day (the payment's or the credit note's day, UTC)
  std::string organization_id;  // the referred customer
  std::string customer_name;    // its billing account name
  std::string invoice_id;       // the invoice the commission is earned on
  std::string invoice_number;
  std::string document_id;      // kCommission: the invoice; kReversal: the credit note
  std::string document_number;
  core::Money base;    // tax-exclusive; negative for reversals
  int64_t rate_bp = 0;
  core::Money amount;  // commission; negative for reversals
  std::string ledger_txn_id;
};

// A payout of one agency's commission for one closed UTC month (a bank transfer made by staff):
// amount = the month's statement net; ledger (kind "commission_payout", reference
// "payout:<id>"): commission_payable ("partner:<id>") +amount, cash (platform, "") -amount.
// One per agency and month (unique row); asking again answers the first payout unchanged.
struct CommissionPayout {
  std::string id;
  std::string partner_id;
  int year = 0;
  unsigned month = 0;
  core::Money amount;
  std::string reference;
  std::string ledger_txn_id;
  core::TimePoint paid_at;
};

// One agency referral code: a customer redeems it once, within kReferralRedeemDays of its
// organization's creation, and becomes the agency's referred customer (channel agency).
inline constexpr int kReferralRedeemDays = 30;
struct ReferralCode {
  std::string code;  // "REF-" + 12 characters A-Z 2-7
  std::string partner_id;
  core::TimePoint created_at;
  int64_t redemptions = 0;
};

struct CommissionStatement {
  std::string partner_id;
  int year = 0;
  unsigned month = 0;  // 1..12
  Date period_start;   // first day of the month
  Date period_end;     // first day of the next month (exclusive)
  int64_t current_rate_bp = 0;  // the partner's rate today (lines carry the rate they used)
  std::vector<CommissionLine> lines;  // by date, then row order
  core::Money base_total;        // sum of line bases
  core::Money commission_total;  // sum of positive lines
  core::Money reversal_total;    // sum of reversal lines (<= 0)
  core::Money net;               // commission_total + reversal_total: what the agency is owed
  core::Money ledger_net;        // -sum of the lines' commission_payable ledger postings
  core::Money payable_balance;   // what the platform owes the agency overall (all months)
  bool closed = false;           // the month has ended (UTC), so it can be paid out
  std::optional<CommissionPayout> payout;  // set once the month was paid out
};

class Commissions {
 public:
  Commissions(const BillingDeps& deps, PriceLists& prices, Ledger& ledger)
      : deps_(deps), prices_(prices), ledger_(ledger) {}

  // Inside the paying transaction (Payments::OnInvoicePaid). Nothing for direct, reseller or OEM
  // customers, credit notes, or a zero rate; posts once per invoice.
  core::Status OnInvoicePaid(SQLite::Database& tx, const Invoice& invoice);
  // Inside the credit note's issuing transaction (InvoiceStore::OnCreditNoteIssued). Reverses
  // the share of the original invoice's commission, if one was posted.
  core::Status OnCreditNote(SQLite::Database& tx, const Invoice& note, const Invoice& original);

  // The monthly statement of an agency (UTC month). kNotFound for an unknown partner,
  // kInvalidArgument (field "month") for a month outside 1..12.
  core::Result<CommissionStatement> Statement(const std::string& partner_id, int year,
                                              unsigned month);
  // Every line of one referred customer (the customer's view of what its agency earned is not
  // exposed; this is for staff and tests).
  // Pays out the agency's net commission of a closed month (staff). kInvalidArgument (field
  // "month") for a month not yet over, (field "reference") for an empty reference;
  // kConflict (field "month") when the month's net is not positive or exceeds what is payable.
  // Idempotent per agency and month: returns {the first payout, false} when it exists.
  core::Result<std::pair<CommissionPayout, bool>> PayOut(const std::string& partner_id, int year,
                                                         unsigned month,
                                                         const std::string& reference,
                                                         const Actor& actor);
  core::Result<std::vector<CommissionPayout>> Payouts(const std::string& partner_id);

  // Referral codes of agencies (staff create them; the partner portal may serve them).
  // kInvalidArgument (field "partner") when the partner is not an agency.
  core::Result<ReferralCode> CreateReferralCode(const std::string& partner_id, const Actor& actor);
  core::Result<std::vector<ReferralCode>> ReferralCodes(const std::string& partner_id);
  // The organization (created at `organization_created_at`) redeems a code: its billing account
  // (which must exist) becomes channel agency with the code's partner. Once per organization,
  // only for direct customers without a partner, within kReferralRedeemDays of creation:
  // kNotFound (field "code") for an unknown code, kConflict (field "code") otherwise. Audited
  // "billing.referral.redeem". Returns the agency's partner id.
  core::Result<std::string> RedeemReferralCode(const std::string& organization_id,
                                               const std::string& code,
                                               core::TimePoint organization_created_at,
                                               const Actor& actor);

  core::Result<std::vector<CommissionLine>> ForInvoice(const std::string& organization_id,
                                                       const std::string& invoice_id);

 private:
  BillingDeps deps_;
  PriceLists& prices_;
  Ledger& ledger_;
};

// RFC 4180 CSV of a statement: one row per line, then a totals row.
std::string CommissionStatementToCsv(const CommissionStatement& statement);
// JSON of a statement as the staff route (and the partner API) serve it: {partner_id, month:
// "YYYY-MM", period {start, end}, current_rate_bp, lines: [{id, kind, date, organization_id,
// customer_name, invoice_id, invoice_number, document_id, document_number, base, rate_bp,
// amount, ledger_txn_id}], base_total, commission_total, reversal_total, net, ledger_net,
// payable_balance, closed, status: "open"|"unpaid"|"paid"|"nothing_due", payout: {id, amount,
// reference, paid_at, ledger_txn_id} | null, currency: "JPY"}.
core::Json CommissionStatementToJson(const CommissionStatement& statement);

}  // namespace hp::billing
