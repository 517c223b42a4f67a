#pragma once
// Outbound e-mail. Production: SMTP (with STARTTLS when offered) through libcurl; tests use a
// local SMTP sink (python3 -m aiosmtpd) on loopback. Send() blocks on the network: call it from a
// job, never from a reactor thread.

#include <memory>
#include <string>
#include <vector>

#include "hp/core/error.h"

namespace hp::core {

struct MailMessage {
  std::string from_name;     // "hostplane" or a partner's brand
  std::string from_address;  // "noreply@hostplane.example"
  std::string to;            // one recipient
  std::string subject;       // UTF-8; encoded per RFC 2047 when not ASCII
  std::string text_body;     // UTF-8 plain text
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

class Mailer {
 public:
  virtual ~Mailer() = default;
  // kInvalidArgument for a bad address (field "to"/"from_address"), a line break in from_name or
  // subject, or an extra header that is malformed or one we set ourselves (From, To, Cc, Bcc,
  // Subject, Date, Message-ID, MIME-Version, Content-*) (field "extra_headers"); kUnavailable
  // (retry_after_seconds set) when the server cannot be reached, times out or answers 4xx;
  // kInternal otherwise (5xx, TLS required but not offered). The message is 7-bit on the wire:
  // RFC 2047 words for non-ASCII header text, quoted-printable UTF-8 body, lines <= 78 chars.
  virtual Status Send(const MailMessage& message) = 0;
};

struct SmtpOptions {
  std::string url = "smtp://127.0.0.1:25";  // smtp:// or smtps://
  std::string username;
  std::string password;
  bool require_tls = false;  // refuse to send without STARTTLS/SMTPS
  long timeout_ms = 10000;
};

std::unique_ptr<Mailer> NewSmtpMailer(SmtpOptions options);

// True for a syntactically valid addr-spec we accept for accounts (ASCII local part, a domain with
// at least one dot or "localhost", no whitespace or control characters, <= 254 bytes).
bool IsValidEmail(std::string_view address);

}  // namespace hp::core
