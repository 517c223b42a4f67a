#include "hp/billing/commission.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "hp/core/random.h"

#include "util.h"

namespace hp::billing {

using core::ErrorCode;
using core::FailField;
using core::Money;
using core::Result;
using core::Status;

std::string CommissionPayableOwner(const std::string& partner_id) { return "partner:" + partner_id; }

std::string_view CommissionKindName(CommissionKind k) {
  return k == CommissionKind::kReversal ? "reversal" : "commission";
}

namespace {

struct Referral {
  std::string partner_id;
  int64_t rate_bp = 0;
};

// The agency that referred this organization and its current rate, if any (inside tx).
Result<std::optional<Referral>> ReferralOf(SQLite::Database& tx, const std::string& org) {
  SQLite::Statement q(tx,
                      "SELECT a.partner_id, p.commission_bp FROM billing_accounts a JOIN "
                      "billing_partners p ON p.partner_id = a.partner_id WHERE "
                      "a.organization_id = ? AND a.channel = 'agency' AND p.channel = 'agency'");
  q.bind(1, org);
  if (!q.executeStep()) return std::optional<Referral>();
  return std::optional<Referral>(Referral{q.getColumn(0).getString(), q.getColumn(1).getInt64()});
}

Status InsertRow(const BillingDeps& deps, SQLite::Database& tx, const std::string& partner_id,
                 const std::string& org, CommissionKind kind, const std::string& invoice_id,
                 const std::string& document_id, Date day, Money base, int64_t rate_bp,
                 Money amount, const std::string& txn_id) {
  SQLite::Statement q(tx,
                      "INSERT INTO billing_commissions (public_id, partner_id, organization_id, "
                      "kind, invoice_id, document_id, accrual_date, base, rate_bp, amount, "
                      "ledger_txn_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  int i = 1;
  q.bind(i++, deps.ids->NewId());
  q.bind(i++, partner_id);
  q.bind(i++, org);
  q.bind(i++, std::string(CommissionKindName(kind)));
  q.bind(i++, invoice_id);
  q.bind(i++, document_id);
  q.bind(i++, FormatDate(day));
  q.bind(i++, base.yen());
  q.bind(i++, rate_bp);
  q.bind(i++, amount.yen());
  q.bind(i++, txn_id);
  q.bind(i++, internal::NowMicros(deps));
  q.exec();
  return core::Ok();
}

Money Neg(Money m) { return Money::Yen(-m.yen()); }

}  // namespace

Status Commissions::OnInvoicePaid(SQLite::Database& tx, const Invoice& inv) {
  if (inv.kind != InvoiceKind::kInvoice) return core::Ok();
  HP_ASSIGN_OR_RETURN(auto ref, ReferralOf(tx, inv.organization_id));
  if (!ref || ref->rate_bp <= 0) return core::Ok();
  SQLite::Statement seen(tx,
                         "SELECT 1 FROM billing_commissions WHERE kind = 'commission' AND "
                         "document_id = ?");
  seen.bind(1, inv.id);
  if (seen.executeStep()) return core::Ok();  // a retried hook
  // Base: the invoice's subtotal less what credit notes already took back.
  SQLite::Statement cn(tx,
                       "SELECT COALESCE(SUM(subtotal), 0) FROM billing_invoices WHERE "
                       "organization_id = ? AND corrects_invoice_id = ? AND kind = 'credit_note'");
  cn.bind(1, inv.organization_id);
  cn.bind(2, inv.id);
  cn.executeStep();
  const Money base = Money::Yen(inv.totals.subtotal.yen() - cn.getColumn(0).getInt64());
  if (base.yen() <= 0) return core::Ok();
  HP_ASSIGN_OR_RETURN(Money amount, base.MulDivFloor(ref->rate_bp, 10000));
  if (amount.yen() <= 0) return core::Ok();
  const Date day = ToDate(deps_.clock->Now());
  HP_ASSIGN_OR_RETURN(std::string txn,
                      ledger_.Post(tx, {"commission", "invoice:" + inv.id,
                                        {{accounts::kCommissionExpense, inv.organization_id, amount},
                                         {accounts::kCommissionPayable,
                                          CommissionPayableOwner(ref->partner_id), Neg(amount)}}}));
  HP_TRY(InsertRow(deps_, tx, ref->partner_id, inv.organization_id, CommissionKind::kCommission,
                   inv.id, inv.id, day, base, ref->rate_bp, amount, txn));
  return internal::Audit(deps_, tx, Actor{"system", "billing-commission", "", ""},
                         inv.organization_id, "billing.commission.post", "invoice:" + inv.id,
                         {{"number", inv.number},
                          {"base", base.yen()},
                          {"rate_bp", ref->rate_bp},
                          {"amount", amount.yen()},
                          {"ledger_txn", txn}},
                         ref->partner_id);
}

Status Commissions::OnCreditNote(SQLite::Database& tx, const Invoice& note, const Invoice& orig) {
  SQLite::Statement c(tx,
                      "SELECT partner_id, rate_bp, amount FROM billing_commissions WHERE kind = "
                      "'commission' AND document_id = ? AND organization_id = ?");
  c.bind(1, orig.id);
  c.bind(2, orig.organization_id);
  if (!c.executeStep()) return core::Ok();  // no commission was earned (yet) on this invoice
  const std::string partner_id = c.getColumn(0).getString();
  const int64_t rate_bp = c.getColumn(1).getInt64();
  const int64_t earned = c.getColumn(2).getInt64();
  SQLite::Statement r(tx,
                      "SELECT COALESCE(SUM(amount), 0), COALESCE(SUM(CASE WHEN document_id = ? "
                      "THEN 1 ELSE 0 END), 0) FROM billing_commissions WHERE kind = 'reversal' "
                      "AND invoice_id = ? AND organization_id = ?");
  r.bind(1, note.id);
  r.bind(2, orig.id);
  r.bind(3, orig.organization_id);
  r.executeStep();
  const int64_t reversed = -r.getColumn(0).getInt64();
  if (r.getColumn(1).getInt64() > 0) return core::Ok();  // a retried hook
  HP_ASSIGN_OR_RETURN(Money share, note.totals.subtotal.MulDivFloor(rate_bp, 10000));
  const int64_t amount = std::min(share.yen(), earned - reversed);
  if (amount <= 0) return core::Ok();
  const Money m = Money::Yen(amount);
  HP_ASSIGN_OR_RETURN(std::string txn,
                      ledger_.Post(tx, {"commission", "credit_note:" + note.id,
                                        {{accounts::kCommissionPayable,
                                          CommissionPayableOwner(partner_id), m},
                                         {accounts::kCommissionExpense, orig.organization_id,
                                          Neg(m)}}}));
  HP_TRY(InsertRow(deps_, tx, partner_id, orig.organization_id, CommissionKind::kReversal,
                   orig.id, note.id, ToDate(deps_.clock->Now()), Neg(note.totals.subtotal),
                   rate_bp, Neg(m), txn));
  return internal::Audit(deps_, tx, Actor{"system", "billing-commission", "", ""},
                         orig.organization_id, "billing.commission.reverse",
                         "credit_note:" + note.id,
                         {{"invoice", orig.number},
                          {"credit_note", note.number},
                          {"base", -note.totals.subtotal.yen()},
                          {"rate_bp", rate_bp},
                          {"amount", -amount},
                          {"ledger_txn", txn}},
                         partner_id);
}

namespace {

constexpr const char* kLineCols =
    "c.public_id, c.kind, c.accrual_date, c.organization_id, COALESCE(a.name, ''), "
    "c.invoice_id, COALESCE(i.number, ''), c.document_id, COALESCE(d.number, ''), c.base, "
    "c.rate_bp, c.amount, c.ledger_txn_id";
constexpr const char* kLineJoins =
    " FROM billing_commissions c LEFT JOIN billing_accounts a ON a.organization_id = "
    "c.organization_id LEFT JOIN billing_invoices i ON i.public_id = c.invoice_id LEFT JOIN "
    "billing_invoices d ON d.public_id = c.document_id ";

Result<CommissionLine> ReadLine(SQLite::Statement& q) {
  CommissionLine l;
  l.id = q.getColumn(0).getString();
  l.kind = q.getColumn(1).getString() == "reversal" ? CommissionKind::kReversal
                                                    : CommissionKind::kCommission;
  HP_ASSIGN_OR_RETURN(l.date, ParseDate(q.getColumn(2).getString()));
  l.organization_id = q.getColumn(3).getString();
  l.customer_name = q.getColumn(4).getString();
  l.invoice_id = q.getColumn(5).getString();
  l.invoice_number = q.getColumn(6).getString();
  l.document_id = q.getColumn(7).getString();
  l.document_number = q.getColumn(8).getString();
  l.base = Money::Yen(q.getColumn(9).getInt64());
  l.rate_bp = q.getColumn(10).getInt64();
  l.amount = Money::Yen(q.getColumn(11).getInt64());
  l.ledger_txn_id = q.getColumn(12).getString();
  return l;
}

}  // namespace

namespace {

std::string MonthKey(int year, unsigned month) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04d-%02u", year, month);
  return buf;
}

constexpr const char* kPayoutCols =
    "public_id, partner_id, month, amount, reference, ledger_txn_id, paid_at";

CommissionPayout ReadPayout(SQLite::Statement& q) {
  CommissionPayout p;
  p.id = q.getColumn(0).getString();
  p.partner_id = q.getColumn(1).getString();
  const std::string m = q.getColumn(2).getString();
  p.year = std::stoi(m.substr(0, 4));
  p.month = static_cast<unsigned>(std::stoi(m.substr(5, 2)));
  p.amount = Money::Yen(q.getColumn(3).getInt64());
  p.reference = q.getColumn(4).getString();
  p.ledger_txn_id = q.getColumn(5).getString();
  p.paid_at = core::FromUnixMicros(q.getColumn(6).getInt64());
  return p;
}

Result<std::optional<CommissionPayout>> PayoutIn(SQLite::Database& db,
                                                 const std::string& partner_id,
                                                 const std::string& month) {
  SQLite::Statement q(db, std::string("SELECT ") + kPayoutCols +
                              " FROM billing_commission_payouts WHERE partner_id = ? AND month = ?");
  q.bind(1, partner_id);
  q.bind(2, month);
  if (!q.executeStep()) return std::optional<CommissionPayout>();
  return std::optional<CommissionPayout>(ReadPayout(q));
}

}  // namespace

Result<CommissionStatement> Commissions::Statement(const std::string& partner_id, int year,
                                                   unsigned month) {
  if (month < 1 || month > 12)
    return FailField(ErrorCode::kInvalidArgument, "month", "month must be 1 to 12");
  if (year < 2000 || year > 9999)
    return FailField(ErrorCode::kInvalidArgument, "month", "year out of range");
  HP_ASSIGN_OR_RETURN(Partner p, prices_.GetPartner(partner_id));
  CommissionStatement s;
  s.partner_id = partner_id;
  s.year = year;
  s.month = month;
  s.period_start = Date{std::chrono::year{year}, std::chrono::month{month}, std::chrono::day{1}};
  s.period_end = AddDays(EndOfMonthAfter(s.period_start, 0), 1);
  s.current_rate_bp = p.channel == Channel::kAgency ? p.commission_bp : 0;
  return deps_.db->Read([&](SQLite::Database& db) -> Result<CommissionStatement> {
    SQLite::Statement q(db, std::string("SELECT ") + kLineCols + kLineJoins +
                                "WHERE c.partner_id = ? AND c.accrual_date >= ? AND "
                                "c.accrual_date < ? ORDER BY c.accrual_date, c.id");
    q.bind(1, partner_id);
    q.bind(2, FormatDate(s.period_start));
    q.bind(3, FormatDate(s.period_end));
    int64_t base = 0, plus = 0, minus = 0;
    while (q.executeStep()) {
      HP_ASSIGN_OR_RETURN(CommissionLine l, ReadLine(q));
      base += l.base.yen();
      (l.amount.yen() >= 0 ? plus : minus) += l.amount.yen();
      s.lines.push_back(std::move(l));
    }
    s.base_total = Money::Yen(base);
    s.commission_total = Money::Yen(plus);
    s.reversal_total = Money::Yen(minus);
    s.net = Money::Yen(plus + minus);
    // The same month from the ledger side: the payable postings of exactly these lines.
    SQLite::Statement l(db,
                        "SELECT COALESCE(SUM(g.amount), 0) FROM billing_ledger g WHERE g.account "
                        "= ? AND g.organization_id = ? AND g.txn_id IN (SELECT ledger_txn_id FROM "
                        "billing_commissions WHERE partner_id = ? AND accrual_date >= ? AND "
                        "accrual_date < ?)");
    l.bind(1, accounts::kCommissionPayable);
    l.bind(2, CommissionPayableOwner(partner_id));
    l.bind(3, partner_id);
    l.bind(4, FormatDate(s.period_start));
    l.bind(5, FormatDate(s.period_end));
    l.executeStep();
    s.ledger_net = Money::Yen(-l.getColumn(0).getInt64());
    SQLite::Statement b(db,
                        "SELECT COALESCE(SUM(amount), 0) FROM billing_ledger WHERE account = ? "
                        "AND organization_id = ?");
    b.bind(1, accounts::kCommissionPayable);
    b.bind(2, CommissionPayableOwner(partner_id));
    b.executeStep();
    s.payable_balance = Money::Yen(-b.getColumn(0).getInt64());
    s.closed = DaysBetween(s.period_end, ToDate(deps_.clock->Now())) >= 0;
    HP_ASSIGN_OR_RETURN(s.payout, PayoutIn(db, partner_id, MonthKey(year, month)));
    return s;
  });
}

Result<std::pair<CommissionPayout, bool>> Commissions::PayOut(const std::string& partner_id,
                                                              int year, unsigned month,
                                                              const std::string& reference,
                                                              const Actor& actor) {
  if (reference.empty() || reference.size() > 200)
    return FailField(ErrorCode::kInvalidArgument, "reference",
                     "the payout's bank transfer reference (1 to 200 characters)");
  HP_ASSIGN_OR_RETURN(CommissionStatement st, Statement(partner_id, year, month));
  const std::string key = MonthKey(year, month);
  return deps_.db->Write([&](SQLite::Database& db) -> Result<std::pair<CommissionPayout, bool>> {
    HP_ASSIGN_OR_RETURN(auto existing, PayoutIn(db, partner_id, key));
    if (existing) return std::make_pair(*existing, false);
    if (!st.closed)
      return FailField(ErrorCode::kInvalidArgument, "month",
                       key + " is not over yet; only closed months are paid out");
    // The month's net from the rows (re-read inside the write transaction).
    SQLite::Statement n(db,
                        "SELECT COALESCE(SUM(amount), 0) FROM billing_commissions WHERE "
                        "partner_id = ? AND accrual_date >= ? AND accrual_date < ?");
    n.bind(1, partner_id);
    n.bind(2, FormatDate(st.period_start));
    n.bind(3, FormatDate(st.period_end));
    n.executeStep();
    const int64_t net = n.getColumn(0).getInt64();
    SQLite::Statement b(db,
                        "SELECT COALESCE(SUM(amount), 0) FROM billing_ledger WHERE account = ? "
                        "AND organization_id = ?");
    b.bind(1, accounts::kCommissionPayable);
    b.bind(2, CommissionPayableOwner(partner_id));
    b.executeStep();
    const int64_t payable = -b.getColumn(0).getInt64();
    if (net <= 0)
      return FailField(ErrorCode::kConflict, "month",
                       "nothing to pay for " + key + " (net commission " + std::to_string(net) +
                           " JPY)");
    if (net > payable)
      return FailField(ErrorCode::kConflict, "month",
                       "the month's net " + std::to_string(net) + " JPY exceeds the payable " +
                           std::to_string(payable) + " JPY");
    CommissionPayout p;
    p.id = deps_.ids->NewId();
    p.partner_id = partner_id;
    p.year = year;
    p.month = month;
    p.amount = Money::Yen(net);
    p.reference = reference;
    p.paid_at = deps_.clock->Now();
    HP_ASSIGN_OR_RETURN(p.ledger_txn_id,
                        ledger_.Post(db, {"commission_payout", "payout:" + p.id,
                                          {{accounts::kCommissionPayable,
                                            CommissionPayableOwner(partner_id), p.amount},
                                           {accounts::kCash, "", Neg(p.amount)}}}));
    SQLite::Statement ins(db,
                          "INSERT INTO billing_commission_payouts (public_id, partner_id, month, "
                          "amount, reference, ledger_txn_id, paid_at) VALUES (?,?,?,?,?,?,?)");
    ins.bind(1, p.id);
    ins.bind(2, partner_id);
    ins.bind(3, key);
    ins.bind(4, net);
    ins.bind(5, reference);
    ins.bind(6, p.ledger_txn_id);
    ins.bind(7, core::ToUnixMicros(p.paid_at));
    ins.exec();
    HP_TRY(internal::Audit(deps_, db, actor, "", "billing.commission.payout", "payout:" + p.id,
                           {{"month", key},
                            {"amount", net},
                            {"reference", reference},
                            {"ledger_txn", p.ledger_txn_id}},
                           partner_id));
    return std::make_pair(p, true);
  });
}

Result<std::vector<CommissionPayout>> Commissions::Payouts(const std::string& partner_id) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<CommissionPayout>> {
    SQLite::Statement q(db, std::string("SELECT ") + kPayoutCols +
                                " FROM billing_commission_payouts WHERE partner_id = ? ORDER BY "
                                "month");
    q.bind(1, partner_id);
    std::vector<CommissionPayout> out;
    while (q.executeStep()) out.push_back(ReadPayout(q));
    return out;
  });
}

namespace {
std::string NewReferralCode() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const std::vector<uint8_t> bytes = core::RandomBytes(12);
  std::string code = "REF-";
  for (uint8_t b : bytes) code += kAlphabet[b % 32];
  return code;
}
}  // namespace

Result<ReferralCode> Commissions::CreateReferralCode(const std::string& partner_id,
                                                     const Actor& actor) {
  auto p = prices_.GetPartner(partner_id);
  if (!p)
    return FailField(p.error().code, "partner",
                     p.error().code == ErrorCode::kNotFound
                         ? "no billing terms for this partner"
                         : p.error().detail);
  if (p->channel != Channel::kAgency)
    return FailField(ErrorCode::kInvalidArgument, "partner", "referral codes are for agencies");
  return deps_.db->Write([&](SQLite::Database& db) -> Result<ReferralCode> {
    ReferralCode c{NewReferralCode(), partner_id, deps_.clock->Now(), 0};
    SQLite::Statement q(db,
                        "INSERT INTO billing_referral_codes (code, partner_id, created_at) "
                        "VALUES (?,?,?)");
    q.bind(1, c.code);
    q.bind(2, partner_id);
    q.bind(3, core::ToUnixMicros(c.created_at));
    q.exec();
    HP_TRY(internal::Audit(deps_, db, actor, "", "billing.referral_code.create",
                           "partner:" + partner_id, {{"code", c.code}}, partner_id));
    return c;
  });
}

Result<std::vector<ReferralCode>> Commissions::ReferralCodes(const std::string& partner_id) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<ReferralCode>> {
    SQLite::Statement q(db,
                        "SELECT c.code, c.created_at, (SELECT COUNT(*) FROM "
                        "billing_referral_redemptions r WHERE r.code = c.code) FROM "
                        "billing_referral_codes c WHERE c.partner_id = ? ORDER BY c.id");
    q.bind(1, partner_id);
    std::vector<ReferralCode> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), partner_id,
                     core::FromUnixMicros(q.getColumn(1).getInt64()), q.getColumn(2).getInt64()});
    return out;
  });
}

Result<std::string> Commissions::RedeemReferralCode(const std::string& org,
                                                    const std::string& code_in,
                                                    core::TimePoint org_created_at,
                                                    const Actor& actor) {
  std::string code;
  for (char ch : code_in) code += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (code.empty() || code.size() > 40)
    return FailField(ErrorCode::kInvalidArgument, "code", "a referral code such as REF-...");
  const auto age = deps_.clock->Now() - org_created_at;
  if (age > std::chrono::hours(24 * kReferralRedeemDays))
    return FailField(ErrorCode::kConflict, "code",
                     "a referral code is redeemed within " + std::to_string(kReferralRedeemDays) +
                         " days of sign-up");
  return deps_.db->Write([&](SQLite::Database& db) -> Result<std::string> {
    SQLite::Statement c(db, "SELECT partner_id FROM billing_referral_codes WHERE code = ?");
    c.bind(1, code);
    if (!c.executeStep())
      return FailField(ErrorCode::kNotFound, "code", "no such referral code");
    const std::string partner_id = c.getColumn(0).getString();
    SQLite::Statement r(db,
                        "SELECT 1 FROM billing_referral_redemptions WHERE organization_id = ?");
    r.bind(1, org);
    if (r.executeStep())
      return FailField(ErrorCode::kConflict, "code",
                       "this organization has already redeemed a referral code");
    SQLite::Statement a(db,
                        "SELECT channel, partner_id FROM billing_accounts WHERE "
                        "organization_id = ?");
    a.bind(1, org);
    if (!a.executeStep())
      return FailField(ErrorCode::kNotFound, "organization", "no billing account");
    if (a.getColumn(0).getString() != "direct" || !a.getColumn(1).getString().empty())
      return FailField(ErrorCode::kConflict, "code",
                       "only a direct customer without a partner can redeem a referral code");
    SQLite::Statement u(db,
                        "UPDATE billing_accounts SET channel = 'agency', partner_id = ?, "
                        "updated_at = ? WHERE organization_id = ?");
    u.bind(1, partner_id);
    u.bind(2, internal::NowMicros(deps_));
    u.bind(3, org);
    u.exec();
    SQLite::Statement ins(db,
                          "INSERT INTO billing_referral_redemptions (organization_id, code, "
                          "partner_id, redeemed_at) VALUES (?,?,?,?)");
    ins.bind(1, org);
    ins.bind(2, code);
    ins.bind(3, partner_id);
    ins.bind(4, internal::NowMicros(deps_));
    ins.exec();
    HP_TRY(internal::Audit(deps_, db, actor, org, "billing.referral.redeem",
                           "organization:" + org, {{"code", code}, {"partner", partner_id}},
                           partner_id));
    return partner_id;
  });
}

Result<std::vector<CommissionLine>> Commissions::ForInvoice(const std::string& org,
                                                            const std::string& invoice_id) {
  return deps_.db->Read([&](SQLite::Database& db) -> Result<std::vector<CommissionLine>> {
    SQLite::Statement q(db, std::string("SELECT ") + kLineCols + kLineJoins +
                                "WHERE c.organization_id = ? AND c.invoice_id = ? ORDER BY c.id");
    q.bind(1, org);
    q.bind(2, invoice_id);
    std::vector<CommissionLine> out;
    while (q.executeStep()) {
      HP_ASSIGN_OR_RETURN(CommissionLine l, ReadLine(q));
      out.push_back(std::move(l));
    }
    return out;
  });
}

namespace {
std::string Csv(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}
}  // namespace

std::string CommissionStatementToCsv(const CommissionStatement& s) {
  std::string o =
      "partner_id,date,kind,organization_id,customer_name,invoice_number,document_number,base,"
      "rate_bp,amount,ledger_txn_id\r\n";
  for (const CommissionLine& l : s.lines)
    o += Csv(s.partner_id) + "," + FormatDate(l.date) + "," +
         std::string(CommissionKindName(l.kind)) + "," + Csv(l.organization_id) + "," +
         Csv(l.customer_name) + "," + Csv(l.invoice_number) + "," + Csv(l.document_number) +
         "," + std::to_string(l.base.yen()) + "," + std::to_string(l.rate_bp) + "," +
         std::to_string(l.amount.yen()) + "," + Csv(l.ledger_txn_id) + "\r\n";
  char month[16];
  std::snprintf(month, sizeof(month), "%04d-%02u", s.year, s.month);
  o += Csv(s.partner_id) + "," + month + ",total,,,,," + std::to_string(s.base_total.yen()) +
       ",," + std::to_string(s.net.yen()) + ",\r\n";
  return o;
}

core::Json CommissionStatementToJson(const CommissionStatement& s) {
  core::Json lines = core::Json::array();
  for (const CommissionLine& l : s.lines)
    lines.push_back({{"id", l.id},
                     {"kind", CommissionKindName(l.kind)},
                     {"date", FormatDate(l.date)},
                     {"organization_id", l.organization_id},
                     {"customer_name", l.customer_name},
                     {"invoice_id", l.invoice_id},
                     {"invoice_number", l.invoice_number},
                     {"document_id", l.document_id},
                     {"document_number", l.document_number},
                     {"base", l.base.yen()},
                     {"rate_bp", l.rate_bp},
                     {"amount", l.amount.yen()},
                     {"ledger_txn_id", l.ledger_txn_id}});
  char month[16];
  std::snprintf(month, sizeof(month), "%04d-%02u", s.year, s.month);
  return {{"partner_id", s.partner_id},
          {"month", month},
          {"period", {{"start", FormatDate(s.period_start)}, {"end", FormatDate(s.period_end)}}},
          {"current_rate_bp", s.current_rate_bp},
          {"lines", lines},
          {"base_total", s.base_total.yen()},
          {"commission_total", s.commission_total.yen()},
          {"reversal_total", s.reversal_total.yen()},
          {"net", s.net.yen()},
          {"ledger_net", s.ledger_net.yen()},
          {"payable_balance", s.payable_balance.yen()},
          {"closed", s.closed},
          {"status", !s.closed ? "open" : s.payout ? "paid" : s.net.yen() > 0 ? "unpaid" : "nothing_due"},
          {"payout", s.payout ? core::Json{{"id", s.payout->id},
                                           {"amount", s.payout->amount.yen()},
                                           {"reference", s.payout->reference},
                                           {"paid_at", core::FormatRfc3339(s.payout->paid_at)},
                                           {"ledger_txn_id", s.payout->ledger_txn_id}}
                              : core::Json(nullptr)},
          {"currency", "JPY"},
          {"rule", "commission = floor(base x rate_bp / 10000) on the tax-exclusive subtotal of paid invoices; "
                   "credit notes reverse their share at the original rate, never more than was earned"}};
}

}  // namespace hp::billing
