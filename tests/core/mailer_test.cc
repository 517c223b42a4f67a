#include "hp/core/mailer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "hp/core/json.h"
#include "test_support.h"

namespace hp::core {
namespace {

using hp::testing::FreePort;
using hp::testing::PollUntil;
using hp::testing::Process;
using hp::testing::ReadFile;
using hp::testing::TempDir;

// A real SMTP server on loopback: tests/core/smtp_sink.py (aiosmtpd), shared by the suite.
class MailerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::filesystem::create_directories(dir_->path() + "/mail");
    port_ = FreePort();
    // Debian's python3-aiosmtpd lives with the system interpreter.
    const std::string python =
        ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    sink_ = new Process({python, std::string(HP_SOURCE_DIR) + "/tests/core/smtp_sink.py",
                         std::to_string(port_), dir_->path() + "/mail"},
                        {}, dir_->path());
    ready_ = PollUntil([] { return sink_->Stdout().find("ready") != std::string::npos; },
                       std::chrono::seconds(15));
  }
  static void TearDownTestSuite() {
    delete sink_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(ready_) << "SMTP sink did not start: " << sink_->Stderr(); }

  static std::unique_ptr<Mailer> NewMailer() {
    return NewSmtpMailer({.url = "smtp://127.0.0.1:" + std::to_string(port_), .timeout_ms = 5000});
  }
  static int Count() {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_->path() + "/mail"))
      if (e.path().extension() == ".json") ++n;
    return n;
  }
  // Waits for message number `n` and returns {decoded summary, raw bytes}.
  static std::pair<nlohmann::json, std::string> Received(int n) {
    const std::string base = dir_->path() + "/mail/" + std::to_string(n);
    EXPECT_TRUE(PollUntil([&] { return std::filesystem::exists(base + ".json"); },
                          std::chrono::seconds(5)));
    return {nlohmann::json::parse(ReadFile(base + ".json")), ReadFile(base + ".eml")};
  }

  static TempDir* dir_;
  static Process* sink_;
  static int port_;
  static bool ready_;
};
TempDir* MailerTest::dir_ = nullptr;
Process* MailerTest::sink_ = nullptr;
int MailerTest::port_ = 0;
bool MailerTest::ready_ = false;

TEST_F(MailerTest, JapaneseMessageArrivesIntactWithProperHeaders) {
  const std::string long_line =
      "このメッセージは長い一行です。日本語の文字はそれぞれ三バイトなので、七十六文字の制限を簡単に"
      "超えます。";
  const std::string body =
      "山田 花子 様\n\nご注文ありがとうございます。\n.hidden line starting with a dot\n" +
      long_line + "\ntrailing space \n=equals= and tab\there\n";
  MailMessage m{
      .from_name = "ホストプレーン サポート",
      .from_address = "noreply@hostplane.example",
      .to = "hanako@example.jp",
      .subject = "【hostplane】ご注文ありがとうございます — 請求書 #42 のお知らせと今後のご案内",
      .text_body = body,
      .extra_headers = {{"X-Hostplane-Event", "invoice.issued"}}};
  const int before = Count();
  auto st = NewMailer()->Send(m);
  ASSERT_TRUE(st) << st.error().ToString();
  auto [j, raw] = Received(before + 1);

  // What the recipient's mail program shows.
  EXPECT_EQ(j["subject"], m.subject);
  EXPECT_EQ(j["from_name"], m.from_name);
  EXPECT_EQ(j["from_address"], "noreply@hostplane.example");
  EXPECT_EQ(j["body"], body);
  EXPECT_EQ(j["content_type"], "text/plain");
  EXPECT_EQ(j["charset"], "utf-8");
  EXPECT_TRUE(j["date_parsed"]);
  EXPECT_TRUE(j["message_id"].get<std::string>().ends_with("@hostplane.example>"))
      << j["message_id"];
  EXPECT_EQ(j["headers"]["X-Hostplane-Event"], "invoice.issued");
  EXPECT_TRUE(j["defects"].empty()) << j["defects"];
  // The envelope.
  EXPECT_EQ(j["mail_from"], "noreply@hostplane.example");
  EXPECT_EQ(j["rcpt_tos"], nlohmann::json::array({"hanako@example.jp"}));

  // On the wire: 7-bit clean, RFC 2047 subject, no line over 78 characters.
  EXPECT_NE(raw.find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_NE(raw.find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_NE(raw.find("Content-Transfer-Encoding: quoted-printable\r\n"), std::string::npos);
  for (unsigned char c : raw) ASSERT_LT(c, 0x80);
  std::istringstream lines(raw);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 79u) << line;
}

TEST_F(MailerTest, AsciiHeadersStayReadable) {
  const int before = Count();
  const std::string subject =
      "Your invoice for November 2026 is ready: 3 VPS plans, 2 domains, 1 dedicated server and "
      "the partner discount";
  ASSERT_TRUE(NewMailer()->Send({.from_name = "Acme \"Hosting\" Support",
                                 .from_address = "support@acme.example",
                                 .to = "bob@example.com",
                                 .subject = subject,
                                 .text_body = "Hello Bob,\r\nsee attached.\r\n"}));
  auto [j, raw] = Received(before + 1);
  EXPECT_NE(raw.find("Subject: Your invoice for November"), std::string::npos);
  EXPECT_EQ(j["subject"], subject);  // folded on the wire, one line for the reader
  std::istringstream lines(raw);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 79u) << line;
  EXPECT_NE(raw.find("From: \"Acme \\\"Hosting\\\" Support\" <support@acme.example>\r\n"),
            std::string::npos)
      << raw;
  EXPECT_EQ(j["from_name"], "Acme \"Hosting\" Support");
  EXPECT_EQ(j["body"], "Hello Bob,\nsee attached.\n");
}

TEST_F(MailerTest, ServerRefusalsMapToRetryOrNot) {
  auto temp = NewMailer()->Send({.from_address = "a@hostplane.example",
                                 .to = "tempfail@example.com",
                                 .subject = "x",
                                 .text_body = "x"});
  ASSERT_FALSE(temp);
  EXPECT_EQ(temp.error().code, ErrorCode::kUnavailable) << temp.error().ToString();
  EXPECT_NE(temp.error().detail.find("451"), std::string::npos) << temp.error().detail;

  auto perm = NewMailer()->Send({.from_address = "a@hostplane.example",
                                 .to = "reject@example.com",
                                 .subject = "x",
                                 .text_body = "x"});
  ASSERT_FALSE(perm);
  EXPECT_NE(perm.error().code, ErrorCode::kUnavailable) << perm.error().ToString();
  EXPECT_NE(perm.error().detail.find("550"), std::string::npos) << perm.error().detail;
}

TEST(Mailer, RefusedConnectionIsUnavailable) {
  auto mailer =
      NewSmtpMailer({.url = "smtp://127.0.0.1:" + std::to_string(FreePort()), .timeout_ms = 3000});
  auto st = mailer->Send({.from_address = "a@hostplane.example",
                          .to = "b@example.com",
                          .subject = "x",
                          .text_body = "x"});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  EXPECT_GT(st.error().retry_after_seconds, 0);
}

TEST(Mailer, BadInputIsRefusedBeforeConnecting) {
  // Port 9 on loopback is never contacted: every case fails validation first.
  auto mailer = NewSmtpMailer({.url = "smtp://127.0.0.1:9"});
  MailMessage ok{.from_address = "a@hostplane.example",
                 .to = "b@example.com",
                 .subject = "s",
                 .text_body = "b"};
  MailMessage m = ok;
  m.to = "not an address";
  EXPECT_EQ(mailer->Send(m).error().field, "to");
  m = ok;
  m.from_address = "nobody";
  EXPECT_EQ(mailer->Send(m).error().field, "from_address");
  m = ok;
  m.subject = "hello\r\nBcc: victim@example.com";
  EXPECT_EQ(mailer->Send(m).error().field, "subject");
  m = ok;
  m.extra_headers = {{"X-Tag", "a\r\nBcc: victim@example.com"}};
  EXPECT_EQ(mailer->Send(m).error().field, "extra_headers");
  m.extra_headers = {{"Bcc", "victim@example.com"}};
  EXPECT_EQ(mailer->Send(m).error().field, "extra_headers");
  m = ok;
  m.from_name = "Evil\r\nBcc: x@example.com";
  EXPECT_EQ(mailer->Send(m).error().field, "from_name");
}

TEST(Email, ValidAndInvalidAddresses) {
  for (const char* good : {"hanako@example.jp", "first.last+tag@sub.example.co.jp", "a@b.cd",
                           "admin@localhost", "o'brien@example.ie", "x_y-z@xn--r8jz45g.jp"}) {
    EXPECT_TRUE(IsValidEmail(good)) << good;
  }
  const std::string long_local = std::string(65, 'a') + "@example.com";
  const std::string too_long = "a@" + std::string(250, 'b') + ".com";
  for (const std::string& bad : std::vector<std::string>{"",
                                                         "plain",
                                                         "@example.com",
                                                         "a@",
                                                         "a@example",
                                                         "a@@example.com",
                                                         "a b@example.com",
                                                         ".a@example.com",
                                                         "a.@example.com",
                                                         "a..b@example.com",
                                                         "a@-example.com",
                                                         "a@example-.com",
                                                         "a@exa mple.com",
                                                         "a@example..com",
                                                         "はなこ@example.jp",
                                                         "a@例え.jp",
                                                         "\"quoted\"@example.com",
                                                         "a\n@example.com",
                                                         long_local,
                                                         too_long}) {
    EXPECT_FALSE(IsValidEmail(bad)) << bad;
  }
}

}  // namespace
}  // namespace hp::core
