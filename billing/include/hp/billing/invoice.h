#pragma once
// Qualified invoices (適格請求書) and credit notes (適格返還請求書).
//
// Promises:
//  - Issue() allocates the next number of the issuer's series in the same write transaction as
//    the invoice row, so numbers are sequential without gaps or duplicates even under concurrent
//    issuing (a rolled-back issue gives its number back).
//  - An issued document is immutable: triggers refuse changes to its lines, amounts, issuer and
//    number, and refuse deletes. Corrections are credit notes referencing the invoice.
//  - The issuer's name and registration number are copied onto the document when issued.
//  - Issuing posts the ledger charge (receivable = total, revenue = subtotal, tax_payable = tax)
//    in the same transaction; a credit note posts the reverse.
//  - Credit notes (適格返還請求書) have their own gapless series per issuer: "<series>-CN"
//    (INV-CN-00000001), reference the corrected invoice (id and number) and compute their tax per
//    rate exactly like invoices (once per rate, configured rounding).
// Every read is scoped by organization id. Thread-safe.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "hp/billing/billing.h"
#include "hp/billing/ledger.h"
#include "hp/billing/tax.h"

namespace hp::billing {

enum class InvoiceKind { kInvoice, kCreditNote };
enum class InvoiceStatus { kIssued, kPaid, kCredited };  // kCredited: fully reversed
std::string_view InvoiceStatusName(InvoiceStatus s);

struct InvoiceDraft {
  std::string organization_id;
  InvoiceKind kind = InvoiceKind::kInvoice;
  Issuer issuer;
  std::string series;  // number prefix of the issuer ("INV", a reseller's own prefix)
  std::string recipient_name;
  Date issue_date;
  Date period_start;
  Date period_end;  // exclusive
  std::vector<LineInput> lines;
  std::string corrects_invoice_id;  // credit notes: the invoice they correct
  std::string note;
};

struct Invoice {
  std::string id;  // public id
  std::string organization_id;
  InvoiceKind kind = InvoiceKind::kInvoice;
  std::string number;  // "INV-00000042"
  int64_t sequence = 0;
  Issuer issuer;
  std::string recipient_name;
  Date issue_date;
  Date period_start;
  Date period_end;
  Date due_date;
  TaxRounding rounding = TaxRounding::kFloor;
  InvoiceTotals totals;
  InvoiceStatus status = InvoiceStatus::kIssued;
  core::Money amount_paid;
  std::string corrects_invoice_id;
  std::string corrects_invoice_number;  // credit notes: the corrected invoice's number
  std::string note;
};

// Series of the credit notes of an invoice series: "INV" -> "INV-CN".
std::string CreditNoteSeries(const std::string& invoice_series);

// Called inside the issuing transaction of every credit note (agency commission reversal).
using CreditNoteHook =
    std::function<core::Status(SQLite::Database&, const Invoice& note, const Invoice& original)>;

class InvoiceStore {
 public:
  InvoiceStore(const BillingDeps& deps, const BillingConfig& config, Ledger& ledger)
      : deps_(deps), config_(config), ledger_(ledger) {}

  // Inside the caller's transaction (billing run, credit notes). Validates the issuer
  // (registration number), computes totals with the configured rounding, allocates the number,
  // stores lines and per-rate taxes, posts the ledger and audits "billing.invoice.issue".
  core::Result<Invoice> Issue(SQLite::Database& tx, const InvoiceDraft& draft, const Actor& actor);
  core::Result<Invoice> Issue(const InvoiceDraft& draft, const Actor& actor = {});
  // A credit note for `lines` (positive amounts, reversed on the note) against an issued
  // invoice; kInvalidArgument when it would credit more than the invoice's total.
  core::Result<Invoice> IssueCreditNote(const std::string& organization_id,
                                        const std::string& invoice_id,
                                        const std::vector<LineInput>& lines,
                                        const std::string& reason, const Actor& actor = {});
  // The same inside the caller's transaction (refunds).
  core::Result<Invoice> IssueCreditNote(SQLite::Database& tx, const std::string& organization_id,
                                        const std::string& invoice_id,
                                        const std::vector<LineInput>& lines,
                                        const std::string& reason, const Actor& actor);
  // Totals of lines with the configured rounding (what a credit note of these lines states).
  core::Result<InvoiceTotals> Totals(const std::vector<LineInput>& lines) const;
  // Sum of the totals of the credit notes issued against an invoice.
  core::Result<core::Money> CreditedTotal(SQLite::Database& tx, const std::string& organization_id,
                                          const std::string& invoice_id);
  // Credit notes of an invoice, oldest first.
  core::Result<std::vector<Invoice>> CreditNotesOf(const std::string& organization_id,
                                                   const std::string& invoice_id);
  void OnCreditNoteIssued(CreditNoteHook hook) { on_credit_note_ = std::move(hook); }

  core::Result<Invoice> Get(const std::string& organization_id, const std::string& invoice_id);
  core::Result<Invoice> Get(SQLite::Database& tx, const std::string& organization_id,
                            const std::string& invoice_id);
  core::Result<std::vector<Invoice>> List(const std::string& organization_id);
  // All numbers of a series in order (gap checks, exports).
  core::Result<std::vector<int64_t>> SeriesSequences(const std::string& series);

  // Records money received against an invoice inside the caller's transaction; marks it paid
  // when fully paid. Used by Payments.
  core::Result<Invoice> ApplyPayment(SQLite::Database& tx, const std::string& organization_id,
                                     const std::string& invoice_id, core::Money amount);

 private:
  BillingDeps deps_;
  BillingConfig config_;
  Ledger& ledger_;
  CreditNoteHook on_credit_note_;
};

// A printable HTML document with every element of a qualified invoice (issuer and registration
// number, date, period, lines with quantity and unit price, subtotal and tax per rate, total).
// All text is HTML-escaped.
// brand (optional): a reseller's/OEM's brand name heading the document.
std::string RenderInvoiceHtml(const Invoice& invoice, const std::string& brand = "");
// RFC 4180 CSV, one row per line with the invoice's header fields repeated.
std::string InvoicesToCsv(const std::vector<Invoice>& invoices);
// A PDF (libharu, built-in Japanese fonts) with the same elements as the HTML document; brand
// (optional) is printed as the document's header line instead of nothing (OEM brands).
core::Result<std::string> RenderInvoicePdf(const Invoice& invoice, const std::string& brand = "");

}  // namespace hp::billing
