// Agency commissions (posted when a referred customer's invoice is paid, reversed by refunds'
// credit notes, monthly statement from rows that matches the ledger to the yen), refunds that
// produce credit notes in their own gapless series, the statement of account, and the PDF
// rendering (parsed back with pdftotext), on the real SQLite store with a fake clock.
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
