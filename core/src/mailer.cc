#include "hp/core/mailer.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <mutex>
#include <string_view>

#include "hp/core/clock.h"
#include "hp/core/encoding.h"
#include "hp/core/random.h"
#include "hp/core/secret.h"

namespace hp::core {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}
bool HasCrLf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }
bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

size_t LastLineLength(std::string_view s) {
  size_t nl = s.rfind('\n');
  return nl == std::string_view::npos ? s.size() : s.size() - nl - 1;
}

// RFC 2047 encoded-words ("=?UTF-8?B?...?="), never splitting a UTF-8 sequence, folded so no line
// passes 76 characters. `used` is what the line already holds ("Subject: ").
std::string EncodeWords(std::string_view text, size_t used) {
  constexpr size_t kFraming = 12;  // "=?UTF-8?B?" + "?="
  std::string out;
  size_t line = used;
  size_t i = 0;
  while (i < text.size()) {
    size_t room = line + kFraming + 8 < 76 ? (76 - line - kFraming) / 4 * 3 : 0;
    size_t end = std::min(text.size(), i + room);
    while (end < text.size() && end > i && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
      --end;
    if (end == i) {  // nothing fits on this line: fold and retry
      out += "\r\n ";
      line = 1;
      continue;
    }
    std::string word = "=?UTF-8?B?" + Base64Encode(AsBytes(text.substr(i, end - i))) + "?=";
    out += word;
    line += word.size();
    i = end;
    if (i < text.size()) {
      out += "\r\n ";
      line = 1;
    }
  }
  return out;
}

// ASCII text folded at spaces so lines stay near 78 characters where the words allow.
std::string FoldAscii(std::string_view text, size_t used) {
  std::string out;
  size_t line = used;
  size_t i = 0;
  while (i < text.size()) {
    size_t sp = text.find(' ', i + 1);
    std::string_view word =
        text.substr(i, sp == std::string_view::npos ? std::string_view::npos : sp - i);
    if (line + word.size() > 78 && !out.empty() && word.front() == ' ') {
      out += "\r\n";
      line = 0;
    }
    out += word;
    line += word.size();
    i += word.size();
  }
  return out;
}

// An unstructured header value after `used` characters of "Name: ".
std::string HeaderText(std::string_view text, size_t used) {
  return IsAscii(text) ? FoldAscii(text, used) : EncodeWords(text, used);
}

// A display name: a quoted-string when ASCII, encoded words otherwise (never inside quotes).
std::string DisplayName(std::string_view name, size_t used) {
  if (!IsAscii(name)) return EncodeWords(name, used);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// RFC 2045 quoted-printable with CRLF line ends and lines of at most 76 characters.
std::string QuotedPrintable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string cur;
    for (size_t i = 0; i < line.size(); ++i) {
      auto c = static_cast<unsigned char>(line[i]);
      bool last = i + 1 == line.size();
      std::string piece;
      if ((c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last)) {
        piece = static_cast<char>(c);
      } else {
        piece = {'=', kHex[c >> 4], kHex[c & 15]};
      }
      if (cur.size() + piece.size() > 75) {  // leave room for the soft break '='
        out += cur + "=\r\n";
        cur.clear();
      }
      cur += piece;
    }
    out += cur + "\r\n";
    if (nl == std::string_view::npos) break;
    start = nl + 1;
    if (start == text.size()) break;  // text ended with a newline
  }
  return out;
}

std::string RfcDate(TimePoint now) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(ToUnixSeconds(now));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

bool IsHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && u != ':';
  });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The server URL without any user:password@ part, for error details.
std::string SafeUrl(std::string_view url) {
  size_t scheme = url.find("://");
  size_t at = url.find('@');
  if (scheme == std::string_view::npos || at == std::string_view::npos || at < scheme)
    return std::string(url);
  size_t slash = url.find('/', scheme + 3);
  if (slash != std::string_view::npos && slash < at) return std::string(url);
  return std::string(url.substr(0, scheme + 3)) + std::string(url.substr(at + 1));
}

struct Upload {
  std::string_view data;
  size_t pos = 0;
};

size_t OnRead(char* buffer, size_t size, size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  size_t len = std::min(size * n, u->data.size() - u->pos);
  std::copy_n(u->data.data() + u->pos, len, buffer);
  u->pos += len;
  return len;
}

class SmtpMailer final : public Mailer {
 public:
  explicit SmtpMailer(SmtpOptions options)
      : options_(std::move(options)), password_(options_.password) {
    SecureWipe(options_.password);
  }

  Status Send(const MailMessage& m) override {
    GlobalInit();
    if (!IsValidEmail(m.to))
      return FailField(ErrorCode::kInvalidArgument, "to", "invalid e-mail address");
    if (!IsValidEmail(m.from_address))
      return FailField(ErrorCode::kInvalidArgument, "from_address", "invalid e-mail address");
    if (HasControl(m.from_name))
      return FailField(ErrorCode::kInvalidArgument, "from_name",
                       "control characters in the sender name");
    if (HasCrLf(m.subject))
      return FailField(ErrorCode::kInvalidArgument, "subject", "line breaks in the subject");
    static const std::vector<std::string> kReserved = {
        "from", "to",         "cc",           "bcc",          "subject",
        "date", "message-id", "mime-version", "content-type", "content-transfer-encoding"};
    for (const auto& [name, value] : m.extra_headers) {
      if (!IsHeaderName(name) || HasCrLf(value) ||
          std::find(kReserved.begin(), kReserved.end(), Lower(name)) != kReserved.end())
        return FailField(ErrorCode::kInvalidArgument, "extra_headers",
                         "header '" + name + "' is not allowed");
    }

    const std::string domain = m.from_address.substr(m.from_address.rfind('@') + 1);
    std::string msg;
    msg += "Date: " + RfcDate(SystemClock::Instance().Now()) + "\r\n";
    msg += "Message-ID: <" + HexEncode(RandomBytes(16)) + "@" + domain + ">\r\n";
    std::string from_line = "From: ";
    if (!m.from_name.empty()) {
      from_line += DisplayName(m.from_name, from_line.size());
      // Fold before the address when the name already fills the line.
      from_line += LastLineLength(from_line) + m.from_address.size() + 3 > 78 ? "\r\n " : " ";
    }
    msg += from_line + "<" + m.from_address + ">\r\n";
    msg += "To: <" + m.to + ">\r\n";
    msg += "Subject: " + HeaderText(m.subject, 9) + "\r\n";
    msg += "MIME-Version: 1.0\r\n";
    msg += "Content-Type: text/plain; charset=UTF-8\r\n";
    msg += "Content-Transfer-Encoding: quoted-printable\r\n";
    for (const auto& [name, value] : m.extra_headers)
      msg += name + ": " + HeaderText(value, name.size() + 2) + "\r\n";
    msg += "\r\n";
    msg += QuotedPrintable(m.text_body);

    CurlPtr curl(curl_easy_init());
    if (!curl) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
    CURL* c = curl.get();
    char errbuf[CURL_ERROR_SIZE] = {0};
    Upload upload{msg};
    const std::string from = "<" + m.from_address + ">";
    SlistPtr rcpt(curl_slist_append(nullptr, ("<" + m.to + ">").c_str()));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_URL, options_.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    curl_easy_setopt(c, CURLOPT_USE_SSL,
                     static_cast<long>(options_.require_tls ? CURLUSESSL_ALL : CURLUSESSL_TRY));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(options_.timeout_ms, 10000L));
    if (!options_.username.empty()) {
      curl_easy_setopt(c, CURLOPT_USERNAME, options_.username.c_str());
      std::string pass(password_.Reveal());
      curl_easy_setopt(c, CURLOPT_PASSWORD, pass.c_str());  // curl keeps its own copy
      SecureWipe(pass);
    }
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
    curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, &upload);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(msg.size()));

    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) return Ok();
    long smtp_code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &smtp_code);
    std::string why =
        "SMTP " + SafeUrl(options_.url) + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (smtp_code >= 400 && smtp_code < 500)
      return Fail(
          Error(ErrorCode::kUnavailable, why + " (temporary, " + std::to_string(smtp_code) + ")")
              .WithRetryAfter(60));
    switch (rc) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_GOT_NOTHING:
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
        if (smtp_code < 500) return Fail(Error(ErrorCode::kUnavailable, why).WithRetryAfter(60));
        break;
      default:
        break;
    }
    return Fail(ErrorCode::kInternal, why);
  }

 private:
  SmtpOptions options_;
  Secret password_;
};

}  // namespace

std::unique_ptr<Mailer> NewSmtpMailer(SmtpOptions options) {
  return std::make_unique<SmtpMailer>(std::move(options));
}

bool IsValidEmail(std::string_view address) {
  if (address.size() > 254) return false;
  size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= address.size()) return false;
  std::string_view local = address.substr(0, at);
  std::string_view domain = address.substr(at + 1);
  if (local.size() > 64) return false;
  // dot-atom local part (RFC 5322 atext), no quoted strings.
  static constexpr std::string_view kAtextSpecials = "!#$%&'*+-/=?^_`{|}~";
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return false;
  for (char c : local) {
    auto u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '.' || kAtextSpecials.find(c) != std::string_view::npos) ||
        u >= 0x80)
      return false;
  }
  std::string lower_domain = Lower(domain);
  if (lower_domain != "localhost" && domain.find('.') == std::string_view::npos) return false;
  size_t start = 0;
  while (start <= domain.size()) {
    size_t dot = domain.find('.', start);
    std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      auto u = static_cast<unsigned char>(c);
      if (u >= 0x80 || !(std::isalnum(u) || c == '-')) return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

}  // namespace hp::core
