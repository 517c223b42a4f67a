// Agency commissions (posted when a referred customer's invoice is paid, reversed by refunds'
// credit notes, monthly statement from rows that matches the ledger to the yen), refunds that
// produce credit notes in their own gapless series, the statement of account, and the PDF
// rendering (parsed back with pdftotext), on the real SQLite store with a fake clock.
#include <cctype>
#include <fstream>

#include <gtest/gtest.h>

#include "billing_test_util.h"
#include "hp/billing/commission.h"
#include "hp/billing/payment.h"

namespace hp::billing {
namespace {

using testing::BillingEnv;
using testing::D;
using testing::Y;

// Bank transfers never reach a card gateway; any call is a test failure.
class NoGateway final : public PaymentGateway {
 public:
  core::Result<GatewayCharge> Authorize(core::Money, const std::string&, const std::string&,
                                        const std::string&, const std::string&) override {
    return Refuse();
  }
  core::Result<GatewayCharge> Capture(const std::string&, core::Money, const std::string&) override {
    return Refuse();
  }
  core::Result<GatewayCharge> Refund(const std::string&, core::Money, const std::string&) override {
    return Refuse();
  }
  core::Result<GatewayEvent> ParseWebhook(const std::string&, const std::string&) override {
    return core::Fail(core::ErrorCode::kUnavailable, "no gateway");
  }

 private:
  static std::unexpected<core::Error> Refuse() {
    ADD_FAILURE() << "a bank-transfer flow called the card gateway";
    return core::Fail(core::ErrorCode::kUnavailable, "no gateway");
  }
};

class CommissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.SeedCatalog();
    commissions_ = std::make_unique<Commissions>(env_.deps_, *env_.prices_, *env_.ledger_);
    payments_ = std::make_unique<Payments>(env_.deps_, gateway_, *env_.invoices_, *env_.ledger_);
    payments_->OnInvoicePaid([this](SQLite::Database& tx, const Invoice& inv) {
      return commissions_->OnInvoicePaid(tx, inv);
    });
    env_.invoices_->OnCreditNoteIssued(
        [this](SQLite::Database& tx, const Invoice& note, const Invoice& orig) {
          return commissions_->OnCreditNote(tx, note, orig);
        });
    Partner agency;
    agency.partner_id = "agency-1";
    agency.channel = Channel::kAgency;
    agency.commission_bp = 1250;  // 12.5%
    ASSERT_TRUE(env_.prices_->UpsertPartner(agency));
    ASSERT_TRUE(env_.prices_->UpsertAccount({"org-a", "株式会社エー", Channel::kAgency, "agency-1"}));
    env_.DirectAccount("org-b");
    for (const char* org : {"org-a", "org-b"}) {
      auto s = env_.subs_->Order({org, "shared-s", BillingPeriod::kMonthly, ""});
      ASSERT_TRUE(s) << s.error().ToString();
      ASSERT_TRUE(env_.subs_->Accept(org, s->id));
    }
    ASSERT_TRUE(env_.run_->Run(D(2026, 1, 15)));
    a_ = env_.invoices_->List("org-a")->front();  // ¥1,000 + setup ¥500, tax ¥150: ¥1,650
    b_ = env_.invoices_->List("org-b")->front();
  }
  int64_t Bal(const std::string& org, const char* account) {
    return env_.ledger_->Balance(org, account)->yen();
  }

  BillingEnv env_;
  NoGateway gateway_;
  std::unique_ptr<Commissions> commissions_;
  std::unique_ptr<Payments> payments_;
  Invoice a_, b_;
};

TEST_F(CommissionTest, PaidReferredInvoicePostsCommissionAndRefundsReverseIt) {
  ASSERT_EQ(a_.totals.subtotal.yen(), 1500);
  ASSERT_EQ(a_.totals.total.yen(), 1650);
  // Nothing before payment.
  EXPECT_TRUE(commissions_->Statement("agency-1", 2026, 1)->lines.empty());
  ASSERT_TRUE(payments_->MarkBankTransferPaid("org-a", a_.id, Y(1650), "MUFG 0120"));
  ASSERT_TRUE(payments_->MarkBankTransferPaid("org-b", b_.id, Y(1650), "MUFG 0121"));

  // floor(1,500 x 1,250 / 10,000) = floor(187.5) = 187, posted double-entry.
  EXPECT_EQ(Bal("org-a", accounts::kCommissionExpense), 187);
  EXPECT_EQ(Bal(CommissionPayableOwner("agency-1"), accounts::kCommissionPayable), -187);
  EXPECT_EQ(Bal("org-b", accounts::kCommissionExpense), 0) << "direct customers earn nobody a commission";
  auto jan = commissions_->Statement("agency-1", 2026, 1);
  ASSERT_TRUE(jan) << jan.error().ToString();
  ASSERT_EQ(jan->lines.size(), 1u);
  const CommissionLine& l = jan->lines[0];
  EXPECT_EQ(l.kind, CommissionKind::kCommission);
  EXPECT_EQ(l.organization_id, "org-a");
  EXPECT_EQ(l.customer_name, "株式会社エー");
  EXPECT_EQ(l.invoice_number, "INV-00000001");
  EXPECT_EQ(l.base.yen(), 1500);
  EXPECT_EQ(l.rate_bp, 1250);
  EXPECT_EQ(l.amount.yen(), 187);
  EXPECT_EQ(l.date, D(2026, 1, 15));
  EXPECT_EQ(jan->net.yen(), 187);
  EXPECT_EQ(jan->ledger_net.yen(), 187);
  EXPECT_EQ(jan->payable_balance.yen(), 187);
  EXPECT_EQ(jan->period_start, D(2026, 1, 1));
  EXPECT_EQ(jan->period_end, D(2026, 2, 1));
  // A retried hook posts nothing more.
  ASSERT_TRUE(env_.db_->Write([&](SQLite::Database& tx) {
    return commissions_->OnInvoicePaid(tx, *env_.invoices_->Get("org-a", a_.id));
  }));
  EXPECT_EQ(commissions_->Statement("agency-1", 2026, 1)->lines.size(), 1u);

  // Partial refund of the setup fee: a credit note in its own series, commission share reversed.
  auto r1 = payments_->RefundInvoice("org-a", a_.id, {{"Setup fee refund", 1, Y(500), TaxRate::kStandard10}},
                                     "setup fee waived", {"staff", "op-1", "", ""});
  ASSERT_TRUE(r1) << r1.error().ToString();
  const Invoice& note1 = r1->second;
  EXPECT_EQ(note1.kind, InvoiceKind::kCreditNote);
  EXPECT_EQ(note1.number, "INV-CN-00000001");
  EXPECT_EQ(note1.corrects_invoice_id, a_.id);
  EXPECT_EQ(note1.corrects_invoice_number, "INV-00000001");
  EXPECT_EQ(note1.totals.by_rate.at(0).tax.yen(), 50);
  EXPECT_EQ(note1.totals.total.yen(), 550);
  EXPECT_EQ(r1->first.amount.yen(), 550);
  EXPECT_EQ(r1->first.credit_note_id, note1.id);
  // floor(500 x 1,250 / 10,000) = 62 reversed.
  EXPECT_EQ(Bal("org-a", accounts::kCommissionExpense), 125);
  EXPECT_EQ(Bal("org-a", accounts::kCash), 1100);
  EXPECT_EQ(Bal("org-a", accounts::kReceivable), 0) << "credit note and refund cancel out";

  // The rest in February: the reversal is capped so the invoice gives back exactly what it earned.
  env_.clock_.Advance(std::chrono::days(20));
  auto r2 = payments_->RefundInvoice("org-a", a_.id, {{"Shared S refund", 1, Y(1000), TaxRate::kStandard10}},
                                     "cancelled in the first week");
  ASSERT_TRUE(r2) << r2.error().ToString();
  EXPECT_EQ(r2->second.number, "INV-CN-00000002");
  EXPECT_EQ(Bal("org-a", accounts::kCommissionExpense), 0);
  EXPECT_EQ(Bal(CommissionPayableOwner("agency-1"), accounts::kCommissionPayable), 0);
  EXPECT_EQ(env_.invoices_->Get("org-a", a_.id)->status, InvoiceStatus::kCredited);
  EXPECT_EQ(payments_->List("org-a")->front().state, "refunded");
  EXPECT_EQ(payments_->ListRefunds("org-a")->size(), 2u);
  // Nothing left to refund.
  EXPECT_FALSE(payments_->RefundInvoice("org-a", a_.id, {{"x", 1, Y(1), TaxRate::kStandard10}}, "x"));

  jan = commissions_->Statement("agency-1", 2026, 1);
  ASSERT_EQ(jan->lines.size(), 2u);
  EXPECT_EQ(jan->lines[1].kind, CommissionKind::kReversal);
  EXPECT_EQ(jan->lines[1].document_number, "INV-CN-00000001");
  EXPECT_EQ(jan->lines[1].base.yen(), -500);
  EXPECT_EQ(jan->lines[1].amount.yen(), -62);
  EXPECT_EQ(jan->commission_total.yen(), 187);
  EXPECT_EQ(jan->reversal_total.yen(), -62);
  EXPECT_EQ(jan->net.yen(), 125);
  EXPECT_EQ(jan->ledger_net.yen(), 125);
  auto feb = commissions_->Statement("agency-1", 2026, 2);
  ASSERT_EQ(feb->lines.size(), 1u);
  EXPECT_EQ(feb->lines[0].amount.yen(), -125);  // min(floor(1000 x 12.5%), 187 - 62)
  EXPECT_EQ(feb->net.yen(), -125);
  EXPECT_EQ(feb->ledger_net.yen(), -125);
  EXPECT_EQ(feb->payable_balance.yen(), 0);
  const std::string csv = CommissionStatementToCsv(*jan);
  EXPECT_NE(csv.find("2026-01-15,commission,org-a,株式会社エー,INV-00000001,INV-00000001,1500,1250,187,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("reversal,org-a,株式会社エー,INV-00000001,INV-CN-00000001,-500,1250,-62,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("agency-1,2026-01,total,,,,,1000,,125,"), std::string::npos) << csv;
  EXPECT_EQ(env_.AuditCount("billing.commission.post"), 1);
  EXPECT_EQ(env_.AuditCount("billing.commission.reverse"), 2);
  EXPECT_EQ(env_.AuditCount("billing.invoice.refund"), 2);
  // The platform series has no gap and the credit note series is separate.
  EXPECT_EQ(*env_.invoices_->SeriesSequences("INV"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(*env_.invoices_->SeriesSequences("INV-CN"), (std::vector<int64_t>{1, 2}));
  auto check = env_.ledger_->Check();
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->balanced);
  // Statement of account: the receivable's postings with running balances end at zero.
  auto entries = env_.ledger_->Entries("org-a", accounts::kReceivable);
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 6u);  // charge, payment, credit, refund, credit, refund
  EXPECT_EQ(entries->front().kind, "charge");
  EXPECT_EQ(entries->front().balance.yen(), 1650);
  EXPECT_EQ(entries->back().balance.yen(), 0);
}

// Payouts: a closed month's net commission leaves commission_payable for cash once; the
// statement shows it paid; a later reversal makes a negative month that nothing pays out.
TEST_F(CommissionTest, PayoutOfAClosedMonthIsPostedOnceAndShownPaid) {
  ASSERT_TRUE(payments_->MarkBankTransferPaid("org-a", a_.id, Y(1650), "MUFG 0120"));
  const Actor staff{"staff", "op-1", "", ""};
  // January is not over yet.
  auto early = commissions_->PayOut("agency-1", 2026, 1, "PAY-2026-01", staff);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().field, "month");
  EXPECT_EQ(commissions_->Statement("agency-1", 2026, 1)->closed, false);
  EXPECT_EQ(CommissionStatementToJson(*commissions_->Statement("agency-1", 2026, 1))["status"], "open");

  env_.clock_.Advance(std::chrono::days(17));  // 2026-02-01 09:00 UTC
  EXPECT_EQ(commissions_->PayOut("agency-1", 2026, 1, "", staff).error().field, "reference");
  auto jan = commissions_->Statement("agency-1", 2026, 1);
  ASSERT_TRUE(jan->closed);
  EXPECT_FALSE(jan->payout.has_value());
  EXPECT_EQ(CommissionStatementToJson(*jan)["status"], "unpaid");

  auto paid = commissions_->PayOut("agency-1", 2026, 1, "PAY-2026-01", staff);
  ASSERT_TRUE(paid) << paid.error().ToString();
  EXPECT_TRUE(paid->second);
  EXPECT_EQ(paid->first.amount.yen(), 187);  // floor(1,500 x 12.5%)
  EXPECT_EQ(paid->first.reference, "PAY-2026-01");
  EXPECT_EQ(Bal(CommissionPayableOwner("agency-1"), accounts::kCommissionPayable), 0);
  EXPECT_EQ(Bal("", accounts::kCash), -187) << "the platform's cash paid the agency";
  // Idempotent per agency and month: the same payout, nothing posted again.
  auto again = commissions_->PayOut("agency-1", 2026, 1, "PAY-2026-01-retry", staff);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_FALSE(again->second);
  EXPECT_EQ(again->first.id, paid->first.id);
  EXPECT_EQ(again->first.reference, "PAY-2026-01");
  EXPECT_EQ(Bal("", accounts::kCash), -187);
  EXPECT_EQ(env_.AuditCount("billing.commission.payout"), 1);

  jan = commissions_->Statement("agency-1", 2026, 1);
  ASSERT_TRUE(jan->payout.has_value());
  EXPECT_EQ(jan->payout->amount.yen(), 187);
  EXPECT_EQ(jan->net.yen(), 187);
  EXPECT_EQ(jan->ledger_net.yen(), 187);
  EXPECT_EQ(jan->payable_balance.yen(), 0);
  const core::Json j = CommissionStatementToJson(*jan);
  EXPECT_EQ(j["status"], "paid");
  EXPECT_EQ(j["payout"]["amount"], 187);
  EXPECT_EQ(j["payout"]["reference"], "PAY-2026-01");
  auto list = commissions_->Payouts("agency-1");
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().month, 1u);

  // A February refund after the payout: the reversal (-187) makes February negative; the agency
  // owes it back (payable -187), and February has nothing to pay out.
  env_.clock_.Advance(std::chrono::days(9));
  ASSERT_TRUE(payments_->RefundInvoice("org-a", a_.id, {}, "order withdrawn"));
  env_.clock_.Advance(std::chrono::days(30));  // March
  auto feb = commissions_->Statement("agency-1", 2026, 2);
  EXPECT_EQ(feb->net.yen(), -187);
  EXPECT_EQ(feb->payable_balance.yen(), -187);
  EXPECT_EQ(CommissionStatementToJson(*feb)["status"], "nothing_due");
  auto none = commissions_->PayOut("agency-1", 2026, 2, "PAY-2026-02", staff);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, core::ErrorCode::kConflict);
  EXPECT_EQ(none.error().field, "month");
  EXPECT_EQ(commissions_->PayOut("agency-1", 2025, 12, "PAY", staff).error().code,
            core::ErrorCode::kConflict);
  EXPECT_EQ(commissions_->PayOut("nobody", 2026, 1, "PAY", staff).error().code,
            core::ErrorCode::kNotFound);
  EXPECT_TRUE(env_.ledger_->Check()->balanced);
}

// Referral codes: an agency's code redeemed once by a new direct customer attributes it to the
// agency, whose commission then accrues on that customer's paid invoices.
TEST_F(CommissionTest, ReferralCodeAttributesANewCustomerToTheAgency) {
  const Actor staff{"staff", "op-1", "", ""};
  auto code = commissions_->CreateReferralCode("agency-1", staff);
  ASSERT_TRUE(code) << code.error().ToString();
  EXPECT_EQ(code->code.rfind("REF-", 0), 0u);
  EXPECT_EQ(code->code.size(), 16u);
  EXPECT_EQ(commissions_->CreateReferralCode("nobody", staff).error().field, "partner");

  const core::TimePoint now = env_.clock_.Now();
  const Actor owner{"user", "u-b", "", ""};
  EXPECT_EQ(commissions_->RedeemReferralCode("org-b", "REF-NOSUCHCODE0", now, owner).error().code,
            core::ErrorCode::kNotFound);
  // Too late: the organization is older than 30 days.
  auto late = commissions_->RedeemReferralCode("org-b", code->code, now - std::chrono::days(31), owner);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().field, "code");
  // Already an agency's customer.
  EXPECT_EQ(commissions_->RedeemReferralCode("org-a", code->code, now, owner).error().code,
            core::ErrorCode::kConflict);
  // Case-insensitive, once.
  std::string lower = code->code;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto ok = commissions_->RedeemReferralCode("org-b", lower, now - std::chrono::days(2), owner);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(*ok, "agency-1");
  auto acc = env_.prices_->GetAccount("org-b");
  EXPECT_EQ(acc->channel, Channel::kAgency);
  EXPECT_EQ(acc->partner_id, "agency-1");
  auto twice = commissions_->RedeemReferralCode("org-b", code->code, now, owner);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, core::ErrorCode::kConflict);
  EXPECT_EQ(env_.AuditCount("billing.referral.redeem"), 1);
  EXPECT_EQ(env_.AuditCount("billing.referral_code.create"), 1);
  EXPECT_EQ(commissions_->ReferralCodes("agency-1")->front().redemptions, 1);

  // org-b's invoice paid now earns the agency floor(1,500 x 12.5%) = 187.
  ASSERT_TRUE(payments_->MarkBankTransferPaid("org-b", b_.id, Y(1650), "MUFG 0121"));
  EXPECT_EQ(Bal("org-b", accounts::kCommissionExpense), 187);
  auto jan = commissions_->Statement("agency-1", 2026, 1);
  ASSERT_EQ(jan->lines.size(), 1u);
  EXPECT_EQ(jan->lines[0].organization_id, "org-b");
  EXPECT_EQ(jan->net.yen(), 187);
}

TEST_F(CommissionTest, FullRefundWithoutLinesCreditsEveryLineAndStatementValidates) {
  ASSERT_TRUE(payments_->MarkBankTransferPaid("org-a", a_.id, Y(1650), "MUFG 0120"));
  auto r = payments_->RefundInvoice("org-a", a_.id, {}, "order withdrawn");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->second.totals.total.yen(), 1650);
  EXPECT_EQ(r->second.totals.lines.size(), a_.totals.lines.size());
  EXPECT_EQ(Bal("org-a", accounts::kCommissionExpense), 0);
  EXPECT_EQ(commissions_->Statement("agency-1", 2026, 1)->net.yen(), 0);
  // An unpaid invoice cannot be refunded; a reason is required.
  EXPECT_EQ(payments_->RefundInvoice("org-b", b_.id, {}, "x").error().code, core::ErrorCode::kConflict);
  EXPECT_EQ(payments_->RefundInvoice("org-a", a_.id, {}, "").error().field, "reason");
  EXPECT_EQ(payments_->RefundInvoice("org-b", a_.id, {}, "x").error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(commissions_->Statement("nobody", 2026, 1).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(commissions_->Statement("agency-1", 2026, 13).error().field, "month");
  // Credit notes are immutable like invoices.
  auto upd = env_.db_->Write([&](SQLite::Database& tx) -> core::Status {
    tx.exec("UPDATE billing_invoices SET total = 1 WHERE kind = 'credit_note'");
    return core::Ok();
  });
  EXPECT_FALSE(upd);
  auto del = env_.db_->Write([&](SQLite::Database& tx) -> core::Status {
    tx.exec("DELETE FROM billing_commissions");
    return core::Ok();
  });
  EXPECT_FALSE(del) << "commission rows are append-only";
}

TEST_F(CommissionTest, InvoicePaidAfterAPartialCreditNoteEarnsOnTheNetSubtotal) {
  auto note = env_.invoices_->IssueCreditNote("org-a", a_.id, {{"Goodwill", 1, Y(500), TaxRate::kStandard10}}, "goodwill");
  ASSERT_TRUE(note) << note.error().ToString();
  EXPECT_EQ(note->number, "INV-CN-00000001");
  EXPECT_EQ(Bal("org-a", accounts::kCommissionExpense), 0) << "no commission before payment, nothing to reverse";
  ASSERT_TRUE(payments_->MarkBankTransferPaid("org-a", a_.id, Y(1650), "MUFG"));
  auto s = commissions_->Statement("agency-1", 2026, 1);
  ASSERT_EQ(s->lines.size(), 1u);
  EXPECT_EQ(s->lines[0].base.yen(), 1000);  // 1,500 - 500 credited
  EXPECT_EQ(s->lines[0].amount.yen(), 125);
}

std::string PdfText(const std::string& pdf, const std::string& dir) {
  const std::string path = dir + "/doc.pdf";
  std::ofstream(path, std::ios::binary) << pdf;
  auto [code, out] = hp::testing::Run({"pdftotext", "-layout", path, "-"});
  EXPECT_EQ(code, 0) << out;
  return out;
}

TEST_F(CommissionTest, PdfInvoiceAndCreditNoteParseAndCarryTheQualifiedInvoiceFields) {
  // An invoice with both rates.
  InvoiceDraft d;
  d.organization_id = "org-b";
  d.issuer = env_.config_.platform_issuer;
  d.series = "INV";
  d.recipient_name = "株式会社ビー";
  d.issue_date = d.period_start = D(2026, 1, 15);
  d.period_end = D(2026, 2, 15);
  d.lines = {{"Shared S 共用サーバー", 3, Y(1001), TaxRate::kStandard10},
             {"Coffee beans 珈琲豆", 2, Y(1234), TaxRate::kReduced8}};
  auto inv = env_.invoices_->Issue(d);
  ASSERT_TRUE(inv) << inv.error().ToString();
  auto pdf = RenderInvoicePdf(*inv, "ExampleBrand Cloud");
  ASSERT_TRUE(pdf) << pdf.error().ToString();
  ASSERT_EQ(pdf->rfind("%PDF-", 0), 0u);
  const std::string text = PdfText(*pdf, env_.dir_.path());
  EXPECT_NE(text.find("T1234567890123"), std::string::npos) << text;
  EXPECT_NE(text.find(inv->number), std::string::npos) << text;
  EXPECT_NE(text.find("ExampleBrand Cloud"), std::string::npos) << text;
  // 10%: 3,003 -> tax 300; 8%: 2,468 -> tax floor(197.44) = 197; total 5,968.
  EXPECT_NE(text.find("3,003 JPY"), std::string::npos) << text;
  EXPECT_NE(text.find("300 JPY"), std::string::npos) << text;
  EXPECT_NE(text.find("2,468 JPY"), std::string::npos) << text;
  EXPECT_NE(text.find("197 JPY"), std::string::npos) << text;
  EXPECT_NE(text.find("5,968 JPY"), std::string::npos) << text;
  EXPECT_NE(text.find("2026-01-15"), std::string::npos) << text;
  EXPECT_NE(text.find("10%"), std::string::npos) << text;
  EXPECT_NE(text.find("8%"), std::string::npos) << text;
  // The Japanese text is real text in the built-in MS-Gothic font (pdftotext maps it back with
  // poppler-data's Adobe-Japan1 tables, bootstrapped).
  EXPECT_NE(pdf->find("90ms-RKSJ-H"), std::string::npos);
  EXPECT_NE(text.find("適格請求書"), std::string::npos) << text;
  EXPECT_NE(text.find("登録番号 T1234567890123"), std::string::npos) << text;
  EXPECT_NE(text.find("株式会社ビー 様"), std::string::npos) << text;
  EXPECT_NE(text.find("ホストプレーン株式会社"), std::string::npos) << text;
  EXPECT_NE(text.find("共用サーバー"), std::string::npos) << text;
  EXPECT_NE(text.find("珈琲豆 ※"), std::string::npos) << "8% lines are marked: " << text;
  EXPECT_NE(text.find("10%対象"), std::string::npos) << text;
  EXPECT_NE(text.find("8%対象"), std::string::npos) << text;

  auto note = env_.invoices_->IssueCreditNote("org-b", inv->id, {{"Shared S 返品", 1, Y(1001), TaxRate::kStandard10}}, "返品");
  ASSERT_TRUE(note);
  auto npdf = RenderInvoicePdf(*note);
  ASSERT_TRUE(npdf);
  const std::string ntext = PdfText(*npdf, env_.dir_.path());
  EXPECT_NE(ntext.find("INV-CN-00000001"), std::string::npos) << ntext;
  EXPECT_NE(ntext.find(inv->number), std::string::npos) << "the credit note names the invoice it corrects";
  EXPECT_NE(ntext.find("1,101 JPY"), std::string::npos) << ntext;
  EXPECT_NE(ntext.find("適格返還請求書"), std::string::npos) << ntext;
  EXPECT_NE(ntext.find("返還対象の請求書"), std::string::npos) << ntext;
}

}  // namespace
}  // namespace hp::billing
