#include "hp/billing/invoice.h"

#include <cstdio>

#include "util.h"

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using core::Money;
using core::Result;
using core::Status;

std::string_view InvoiceStatusName(InvoiceStatus s) {
  switch (s) {
    case InvoiceStatus::kIssued: return "issued";
    case InvoiceStatus::kPaid: return "paid";
    case InvoiceStatus::kCredited: return "credited";
  }
  return "issued";
}

namespace {

InvoiceStatus ParseStatus(const std::string& s) {
  if (s == "paid") return InvoiceStatus::kPaid;
  if (s == "credited") return InvoiceStatus::kCredited;
  return InvoiceStatus::kIssued;
}

std::string FormatNumber(const std::string& series, int64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%08lld", static_cast<long long>(seq));
  return series + "-" + buf;
}

constexpr const char* kCols =
    "id, public_id, organization_id, kind, seq, number, issuer_name, issuer_registration, "
    "issuer_address, recipient_name, issue_date, period_start, period_end, due_date, rounding, "
    "subtotal, tax, total, corrects_invoice_id, note, status, amount_paid, "
    "(SELECT c.number FROM billing_invoices c WHERE c.public_id = "
    "billing_invoices.corrects_invoice_id)";

Result<Invoice> ReadInvoice(SQLite::Database& db, SQLite::Statement& q) {
  Invoice inv;
  const int64_t row = q.getColumn(0).getInt64();
  inv.id = q.getColumn(1).getString();
  inv.organization_id = q.getColumn(2).getString();
  inv.kind = q.getColumn(3).getString() == "credit_note" ? InvoiceKind::kCreditNote
                                                         : InvoiceKind::kInvoice;
  inv.sequence = q.getColumn(4).getInt64();
  inv.number = q.getColumn(5).getString();
  inv.issuer = {q.getColumn(6).getString(), q.getColumn(7).getString(),
                q.getColumn(8).getString()};
  inv.recipient_name = q.getColumn(9).getString();
  HP_ASSIGN_OR_RETURN(inv.issue_date, ParseDate(q.getColumn(10).getString()));
  HP_ASSIGN_OR_RETURN(inv.period_start, ParseDate(q.getColumn(11).getString()));
  HP_ASSIGN_OR_RETURN(inv.period_end, ParseDate(q.getColumn(12).getString()));
  HP_ASSIGN_OR_RETURN(inv.due_date, ParseDate(q.getColumn(13).getString()));
  HP_ASSIGN_OR_RETURN(inv.rounding, ParseTaxRounding(q.getColumn(14).getString()));
  inv.totals.subtotal = Money::Yen(q.getColumn(15).getInt64());
  inv.totals.tax = Money::Yen(q.getColumn(16).getInt64());
  inv.totals.total = Money::Yen(q.getColumn(17).getInt64());
  inv.corrects_invoice_id = q.getColumn(18).getString();
  inv.note = q.getColumn(19).getString();
  inv.status = ParseStatus(q.getColumn(20).getString());
  inv.amount_paid = Money::Yen(q.getColumn(21).getInt64());
  if (!q.getColumn(22).isNull()) inv.corrects_invoice_number = q.getColumn(22).getString();
  SQLite::Statement l(db,
                      "SELECT description, quantity, unit_price, amount, tax_percent FROM "
                      "billing_invoice_lines WHERE invoice_id = ? ORDER BY line_no");
  l.bind(1, row);
  while (l.executeStep()) {
    ComputedLine cl;
    cl.input.description = l.getColumn(0).getString();
    cl.input.quantity = l.getColumn(1).getInt64();
    cl.input.unit_price = Money::Yen(l.getColumn(2).getInt64());
    cl.amount = Money::Yen(l.getColumn(3).getInt64());
    HP_ASSIGN_OR_RETURN(cl.input.rate, TaxRateFromPercent(l.getColumn(4).getInt64()));
    inv.totals.lines.push_back(std::move(cl));
  }
  SQLite::Statement t(db,
                      "SELECT tax_percent, subtotal, tax FROM billing_invoice_taxes WHERE "
                      "invoice_id = ? ORDER BY tax_percent DESC");
  t.bind(1, row);
  while (t.executeStep()) {
    HP_ASSIGN_OR_RETURN(TaxRate r, TaxRateFromPercent(t.getColumn(0).getInt64()));
    inv.totals.by_rate.push_back(
        {r, Money::Yen(t.getColumn(1).getInt64()), Money::Yen(t.getColumn(2).getInt64())});
  }
  return inv;
}

Money Neg(Money m) { return Money::Yen(-m.yen()); }

}  // namespace

std::string CreditNoteSeries(const std::string& invoice_series) { return invoice_series + "-CN"; }

Result<InvoiceTotals> InvoiceStore::Totals(const std::vector<LineInput>& lines) const {
  return ComputeInvoice(lines, config_.rounding);
}

Result<Money> InvoiceStore::CreditedTotal(SQLite::Database& tx, const std::string& org,
                                          const std::string& id) {
  SQLite::Statement prev(tx,
                         "SELECT COALESCE(SUM(total), 0) FROM billing_invoices WHERE "
                         "organization_id = ? AND corrects_invoice_id = ? AND kind = 'credit_note'");
  prev.bind(1, org);
  prev.bind(2, id);
  prev.executeStep();
  return Money::Yen(prev.getColumn(0).getInt64());
}

Result<std::vector<Invoice>> InvoiceStore::CreditNotesOf(const std::string& org,
                                                         const std::string& id) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<Invoice>> {
    SQLite::Statement q(db, std::string("SELECT ") + kCols +
                                " FROM billing_invoices WHERE organization_id = ? AND "
                                "corrects_invoice_id = ? ORDER BY id");
    q.bind(1, org);
    q.bind(2, id);
    std::vector<Invoice> out;
    while (q.executeStep()) {
      HP_ASSIGN_OR_RETURN(Invoice inv, ReadInvoice(db, q));
      out.push_back(std::move(inv));
    }
    return out;
  });
}

Result<Invoice> InvoiceStore::Issue(SQLite::Database& tx, const InvoiceDraft& d,
                                    const Actor& actor) {
  if (d.organization_id.empty())
    return FailField(ErrorCode::kInvalidArgument, "organization_id", "empty organization id");
  if (d.issuer.name.empty())
    return FailField(ErrorCode::kInvalidArgument, "issuer.name", "an invoice names its issuer");
  HP_TRY(ValidateRegistrationNumber(d.issuer.registration_number));
  if (d.series.empty()) return FailField(ErrorCode::kInvalidArgument, "series", "empty series");
  if (d.lines.empty()) return FailField(ErrorCode::kInvalidArgument, "lines", "no lines");
  if (!d.issue_date.ok() || !d.period_start.ok() || !d.period_end.ok())
    return FailField(ErrorCode::kInvalidArgument, "issue_date", "invalid date");
  HP_ASSIGN_OR_RETURN(InvoiceTotals totals, ComputeInvoice(d.lines, config_.rounding));
  if (totals.total.yen() < 0)
    return FailField(ErrorCode::kInvalidArgument, "lines",
                     "an invoice total cannot be negative; issue a credit note");

  // Gapless: bump the series counter inside this transaction.
  SQLite::Statement s(tx,
                      "INSERT INTO billing_invoice_series (series, last_seq) VALUES (?, 1) ON "
                      "CONFLICT(series) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq");
  s.bind(1, d.series);
  s.executeStep();
  const int64_t seq = s.getColumn(0).getInt64();
  s.reset();

  Invoice inv;
  inv.id = deps_.ids->NewId();
  inv.organization_id = d.organization_id;
  inv.kind = d.kind;
  inv.sequence = seq;
  inv.number = FormatNumber(d.series, seq);
  inv.issuer = d.issuer;
  inv.recipient_name = d.recipient_name;
  inv.issue_date = d.issue_date;
  inv.period_start = d.period_start;
  inv.period_end = d.period_end;
  inv.due_date = AddDays(d.issue_date, config_.payment_terms_days);
  inv.rounding = config_.rounding;
  inv.totals = totals;
  inv.corrects_invoice_id = d.corrects_invoice_id;
  inv.note = d.note;
  const bool credit = d.kind == InvoiceKind::kCreditNote;

  SQLite::Statement q(tx,
                      "INSERT INTO billing_invoices (public_id, organization_id, kind, series, "
                      "seq, number, issuer_name, issuer_registration, issuer_address, "
                      "recipient_name, issue_date, period_start, period_end, due_date, rounding, "
                      "subtotal, tax, total, corrects_invoice_id, note, status, created_at) VALUES "
                      "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  int i = 1;
  q.bind(i++, inv.id);
  q.bind(i++, inv.organization_id);
  q.bind(i++, credit ? "credit_note" : "invoice");
  q.bind(i++, d.series);
  q.bind(i++, seq);
  q.bind(i++, inv.number);
  q.bind(i++, inv.issuer.name);
  q.bind(i++, inv.issuer.registration_number);
  q.bind(i++, inv.issuer.address);
  q.bind(i++, inv.recipient_name);
  q.bind(i++, FormatDate(inv.issue_date));
  q.bind(i++, FormatDate(inv.period_start));
  q.bind(i++, FormatDate(inv.period_end));
  q.bind(i++, FormatDate(inv.due_date));
  q.bind(i++, std::string(TaxRoundingName(inv.rounding)));
  q.bind(i++, totals.subtotal.yen());
  q.bind(i++, totals.tax.yen());
  q.bind(i++, totals.total.yen());
  q.bind(i++, inv.corrects_invoice_id);
  q.bind(i++, inv.note);
  q.bind(i++, "issued");
  q.bind(i++, internal::NowMicros(deps_));
  q.exec();
  const int64_t row = tx.getLastInsertRowid();
  SQLite::Statement l(tx,
                      "INSERT INTO billing_invoice_lines (invoice_id, line_no, description, "
                      "quantity, unit_price, amount, tax_percent) VALUES (?,?,?,?,?,?,?)");
  for (size_t n = 0; n < totals.lines.size(); ++n) {
    const ComputedLine& cl = totals.lines[n];
    l.bind(1, row);
    l.bind(2, static_cast<int64_t>(n + 1));
    l.bind(3, cl.input.description);
    l.bind(4, cl.input.quantity);
    l.bind(5, cl.input.unit_price.yen());
    l.bind(6, cl.amount.yen());
    l.bind(7, TaxRatePercent(cl.input.rate));
    l.exec();
    l.reset();
  }
  SQLite::Statement t(tx,
                      "INSERT INTO billing_invoice_taxes (invoice_id, tax_percent, subtotal, tax) "
                      "VALUES (?,?,?,?)");
  for (const RateTotal& rt : totals.by_rate) {
    t.bind(1, row);
    t.bind(2, TaxRatePercent(rt.rate));
    t.bind(3, rt.subtotal.yen());
    t.bind(4, rt.tax.yen());
    t.exec();
    t.reset();
  }
  // The charge (or its reversal) in the ledger, same transaction.
  LedgerTxn lt;
  lt.kind = credit ? "credit" : "charge";
  lt.reference = "invoice:" + inv.id;
  Money sign_total = credit ? Neg(totals.total) : totals.total;
  Money sign_sub = credit ? Neg(totals.subtotal) : totals.subtotal;
  Money sign_tax = credit ? Neg(totals.tax) : totals.tax;
  lt.postings = {{accounts::kReceivable, inv.organization_id, sign_total},
                 {accounts::kRevenue, inv.organization_id, Neg(sign_sub)},
                 {accounts::kTaxPayable, inv.organization_id, Neg(sign_tax)}};
  HP_TRY(ledger_.Post(tx, lt));
  HP_TRY(internal::Audit(deps_, tx, actor, inv.organization_id,
                         credit ? "billing.credit_note.issue" : "billing.invoice.issue",
                         "invoice:" + inv.id,
                         {{"number", inv.number},
                          {"total", totals.total.yen()},
                          {"tax", totals.tax.yen()},
                          {"corrects", inv.corrects_invoice_id}}));
  return inv;
}

Result<Invoice> InvoiceStore::Issue(const InvoiceDraft& draft, const Actor& actor) {
  return deps_.db->Write(
      [&](SQLite::Database& db) -> Result<Invoice> { return Issue(db, draft, actor); });
}

Result<Invoice> InvoiceStore::IssueCreditNote(const std::string& org, const std::string& id,
                                              const std::vector<LineInput>& lines,
                                              const std::string& reason, const Actor& actor) {
  return deps_.db->Write([&](SQLite::Database& db) -> Result<Invoice> {
    return IssueCreditNote(db, org, id, lines, reason, actor);
  });
}

Result<Invoice> InvoiceStore::IssueCreditNote(SQLite::Database& db, const std::string& org,
                                              const std::string& id,
                                              const std::vector<LineInput>& lines,
                                              const std::string& reason, const Actor& actor) {
  if (reason.empty())
    return FailField(ErrorCode::kInvalidArgument, "reason", "a credit note states its reason");
  if (lines.empty()) return FailField(ErrorCode::kInvalidArgument, "lines", "no lines");
  for (const LineInput& l : lines)
    if (l.unit_price.yen() < 0 || l.quantity <= 0)
      return FailField(ErrorCode::kInvalidArgument, "lines",
                       "credit note lines are positive amounts to reverse");
  HP_ASSIGN_OR_RETURN(Invoice orig, Get(db, org, id));
  if (orig.kind != InvoiceKind::kInvoice)
    return FailField(ErrorCode::kInvalidArgument, "invoice_id", "not an invoice");
  HP_ASSIGN_OR_RETURN(Money credited, CreditedTotal(db, org, id));
  HP_ASSIGN_OR_RETURN(InvoiceTotals t, ComputeInvoice(lines, config_.rounding));
  if (credited.yen() + t.total.yen() > orig.totals.total.yen())
    return FailField(ErrorCode::kInvalidArgument, "lines",
                     "credit notes would exceed the invoice total " + orig.totals.total.Format() +
                         " (already credited " + credited.Format() + ")");
  SQLite::Statement series(db, "SELECT series FROM billing_invoices WHERE public_id = ?");
  series.bind(1, id);
  series.executeStep();
  InvoiceDraft d;
  d.organization_id = org;
  d.kind = InvoiceKind::kCreditNote;
  d.issuer = orig.issuer;
  d.series = CreditNoteSeries(series.getColumn(0).getString());
  d.recipient_name = orig.recipient_name;
  d.issue_date = ToDate(deps_.clock->Now());
  d.period_start = orig.period_start;
  d.period_end = orig.period_end;
  d.lines = lines;
  d.corrects_invoice_id = id;
  d.note = reason;
  HP_ASSIGN_OR_RETURN(Invoice note, Issue(db, d, actor));
  note.corrects_invoice_number = orig.number;
  if (credited.yen() + t.total.yen() == orig.totals.total.yen()) {
    SQLite::Statement u(db, "UPDATE billing_invoices SET status = 'credited' WHERE public_id = ?");
    u.bind(1, id);
    u.exec();
  }
  if (on_credit_note_) HP_TRY(on_credit_note_(db, note, orig));
  return note;
}

Result<Invoice> InvoiceStore::Get(SQLite::Database& db, const std::string& org,
                                  const std::string& id) {
  SQLite::Statement q(db, std::string("SELECT ") + kCols +
                              " FROM billing_invoices WHERE organization_id = ? AND public_id = ?");
  q.bind(1, org);
  q.bind(2, id);
  if (!q.executeStep()) return FailField(ErrorCode::kNotFound, "invoice_id", "no such invoice");
  return ReadInvoice(db, q);
}

Result<Invoice> InvoiceStore::Get(const std::string& org, const std::string& id) {
  return deps_.db->Read([&](SQLite::Database& db) { return Get(db, org, id); });
}

Result<std::vector<Invoice>> InvoiceStore::List(const std::string& org) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<Invoice>> {
    SQLite::Statement q(db, std::string("SELECT ") + kCols +
                                " FROM billing_invoices WHERE organization_id = ? ORDER BY id");
    q.bind(1, org);
    std::vector<Invoice> out;
    while (q.executeStep()) {
      HP_ASSIGN_OR_RETURN(Invoice inv, ReadInvoice(db, q));
      out.push_back(std::move(inv));
    }
    return out;
  });
}

Result<std::vector<int64_t>> InvoiceStore::SeriesSequences(const std::string& series) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<int64_t>> {
    SQLite::Statement q(db, "SELECT seq FROM billing_invoices WHERE series = ? ORDER BY seq");
    q.bind(1, series);
    std::vector<int64_t> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getInt64());
    return out;
  });
}

Result<Invoice> InvoiceStore::ApplyPayment(SQLite::Database& tx, const std::string& org,
                                           const std::string& id, Money amount) {
  HP_ASSIGN_OR_RETURN(Invoice inv, Get(tx, org, id));
  HP_ASSIGN_OR_RETURN(inv.amount_paid, inv.amount_paid.Add(amount));
  if (inv.amount_paid >= inv.totals.total && inv.status == InvoiceStatus::kIssued)
    inv.status = InvoiceStatus::kPaid;
  SQLite::Statement u(tx,
                      "UPDATE billing_invoices SET amount_paid = ?, status = ? WHERE public_id = ? "
                      "AND organization_id = ?");
  u.bind(1, inv.amount_paid.yen());
  u.bind(2, std::string(InvoiceStatusName(inv.status)));
  u.bind(3, id);
  u.bind(4, org);
  u.exec();
  return inv;
}

// ---- rendering ----

namespace {
std::string Esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}
std::string Csv(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}
}  // namespace

std::string RenderInvoiceHtml(const Invoice& inv, const std::string& brand) {
  const bool credit = inv.kind == InvoiceKind::kCreditNote;
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>" +
      (brand.empty() ? "" : Esc(brand) + " ") + Esc(inv.number) + "</title></head><body>\n";
  if (!brand.empty()) h += "<p class=\"brand\">" + Esc(brand) + "</p>\n";
  h += std::string("<h1>") + (credit ? "適格返還請求書 (Credit note)" : "適格請求書 (Invoice)") +
       "</h1>\n";
  h += "<p class=\"issuer\">" + Esc(inv.issuer.name) + "<br>登録番号 " +
       Esc(inv.issuer.registration_number) + "<br>" + Esc(inv.issuer.address) + "</p>\n";
  h += "<p class=\"recipient\">" + Esc(inv.recipient_name) + " 様</p>\n";
  h += "<dl><dt>請求書番号</dt><dd>" + Esc(inv.number) + "</dd><dt>発行日</dt><dd>" +
       FormatDate(inv.issue_date) + "</dd><dt>対象期間</dt><dd>" + FormatDate(inv.period_start) +
       " – " + FormatDate(AddDays(inv.period_end, -1)) + "</dd><dt>支払期限</dt><dd>" +
       FormatDate(inv.due_date) + "</dd>";
  if (!inv.corrects_invoice_id.empty())
    h += "<dt>返還対象の請求書</dt><dd class=\"corrects\">" +
         Esc(inv.corrects_invoice_number.empty() ? inv.corrects_invoice_id
                                                 : inv.corrects_invoice_number) +
         "</dd>";
  h += "</dl>\n<table class=\"lines\"><tr><th>品目</th><th>数量</th><th>単価</th><th>金額</th>"
       "<th>税率</th></tr>\n";
  for (const ComputedLine& l : inv.totals.lines) {
    h += "<tr><td>" + Esc(l.input.description) + (l.input.rate == TaxRate::kReduced8 ? " ※" : "") +
         "</td><td>" + std::to_string(l.input.quantity) + "</td><td>" +
         Esc(l.input.unit_price.Format()) + "</td><td>" + Esc(l.amount.Format()) + "</td><td>" +
         std::to_string(TaxRatePercent(l.input.rate)) + "%</td></tr>\n";
  }
  h += "</table>\n<table class=\"taxes\"><tr><th>税率</th><th>小計(税抜)</th><th>消費税</th></tr>\n";
  for (const RateTotal& r : inv.totals.by_rate)
    h += "<tr><td>" + std::to_string(TaxRatePercent(r.rate)) + "%対象</td><td>" +
         Esc(r.subtotal.Format()) + "</td><td>" + Esc(r.tax.Format()) + "</td></tr>\n";
  h += "</table>\n<p class=\"total\">小計 " + Esc(inv.totals.subtotal.Format()) + " / 消費税 " +
       Esc(inv.totals.tax.Format()) + " / 合計 " + Esc(inv.totals.total.Format()) + "</p>\n";
  h += "<p class=\"rounding\">消費税の端数処理: " + std::string(TaxRoundingName(inv.rounding)) +
       "（税率ごとに1回）</p>\n";
  bool reduced = false;
  for (const RateTotal& r : inv.totals.by_rate) reduced |= r.rate == TaxRate::kReduced8;
  if (reduced) h += "<p>※は軽減税率(8%)対象</p>\n";
  if (!inv.note.empty()) h += "<p class=\"note\">" + Esc(inv.note) + "</p>\n";
  h += "</body></html>\n";
  return h;
}

std::string InvoicesToCsv(const std::vector<Invoice>& invoices) {
  std::string o =
      "number,kind,issue_date,issuer_name,registration_number,organization_id,period_start,"
      "period_end,line_no,description,quantity,unit_price,amount,tax_rate,invoice_subtotal,"
      "invoice_tax,invoice_total,corrects_invoice_number\r\n";
  for (const Invoice& inv : invoices) {
    for (size_t n = 0; n < inv.totals.lines.size(); ++n) {
      const ComputedLine& l = inv.totals.lines[n];
      o += Csv(inv.number) + "," +
           (inv.kind == InvoiceKind::kCreditNote ? "credit_note" : "invoice") + "," +
           FormatDate(inv.issue_date) + "," + Csv(inv.issuer.name) + "," +
           Csv(inv.issuer.registration_number) + "," + Csv(inv.organization_id) + "," +
           FormatDate(inv.period_start) + "," + FormatDate(inv.period_end) + "," +
           std::to_string(n + 1) + "," + Csv(l.input.description) + "," +
           std::to_string(l.input.quantity) + "," + std::to_string(l.input.unit_price.yen()) +
           "," + std::to_string(l.amount.yen()) + "," +
           std::to_string(TaxRatePercent(l.input.rate)) + "," +
           std::to_string(inv.totals.subtotal.yen()) + "," +
           std::to_string(inv.totals.tax.yen()) + "," + std::to_string(inv.totals.total.yen()) +
           "," + Csv(inv.corrects_invoice_number) + "\r\n";
    }
  }
  return o;
}

}  // namespace hp::billing
