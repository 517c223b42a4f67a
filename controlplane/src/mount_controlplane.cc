// The control plane's own module: tenancy, sign-in, roles, API tokens, audit log and /api/v1.
#include <filesystem>
#include <fstream>

#include "api.h"
#include "audit_log.h"
#include "hp/core/log.h"
#include "hp/core/mailer.h"
#include "hp/core/random.h"
#include "hp/core/sealer.h"
#include "module.h"
#include "routes.h"

namespace hp::generated {
const std::vector<hp::core::Migration>& controlplane_migrations();
}

namespace hp::cp {
namespace {

// --dev without an SMTP server: e-mails are written to var/mail/*.eml so a developer can read them.
class FileMailer final : public core::Mailer {
 public:
  explicit FileMailer(std::string dir) : dir_(std::move(dir)) {}
  core::Status Send(const core::MailMessage& m) override {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    std::string path = dir_ + "/" + std::to_string(core::ToUnixMicros(core::SystemClock::Instance().Now())) + "-" +
                       core::NewPublicId().substr(0, 6) + ".eml";
    std::ofstream out(path);
    if (!out) return core::Fail(core::ErrorCode::kUnavailable, "cannot write " + path);
    out << "From: " << m.from_name << " <" << m.from_address << ">\r\nTo: " << m.to << "\r\nSubject: " << m.subject
        << "\r\n\r\n" << m.text_body;
    return core::Ok();
  }

 private:
  std::string dir_;
};

void AddConfig(core::ConfigSchema& s) {
  using core::ConfigType;
  s.Add({.key = "auth.session_idle_minutes", .type = ConfigType::kInt, .default_value = "30", .doc = "A web session ends after this long without requests.", .min = 1, .max = 1440});
  s.Add({.key = "auth.session_absolute_hours", .type = ConfigType::kInt, .default_value = "12", .doc = "A web session ends this long after sign-in, active or not.", .min = 1, .max = 720});
  s.Add({.key = "auth.max_failed_logins", .type = ConfigType::kInt, .default_value = "5", .doc = "Failed sign-ins in a row that lock an account.", .min = 1, .max = 100});
  s.Add({.key = "auth.lockout_minutes", .type = ConfigType::kInt, .default_value = "15", .doc = "How long a locked account stays locked.", .min = 1, .max = 10080});
  s.Add({.key = "auth.public_signup", .type = ConfigType::kBool, .default_value = "true", .doc = "Allow anyone to sign up (direct channel)."});
  s.Add({.key = "api.rate_limit_per_minute", .type = ConfigType::kInt, .default_value = "1200", .doc = "Requests per minute per token, session or anonymous address (burst: a quarter of it).", .min = 1, .max = 100000000});
  s.Add({.key = "mail.smtp_url", .default_value = "", .doc = "SMTP server (smtp://host:port or smtps://); empty writes e-mails to var_dir/mail/ (development)."});
  s.Add({.key = "mail.smtp_username", .default_value = "", .doc = "SMTP user name."});
  s.Add({.key = "mail.smtp_password", .default_value = "", .doc = "SMTP password (prefer the environment variable)."});
  s.Add({.key = "mail.from_address", .default_value = "noreply@hostplane.localhost", .doc = "Sender address of e-mails."});
  s.Add({.key = "mail.from_name", .default_value = "hostplane", .doc = "Sender display name of e-mails."});
  s.Add({.key = "secrets.master_key_file", .default_value = "", .doc = "Master key that wraps the data keys sealing secrets at rest; empty means var_dir/keys/master.key."});
}

std::vector<const core::MigrationSet*> Migrations() { return {&hp::generated::controlplane_migrations()}; }

class Mounted final : public ServedModule {
 public:
  std::unique_ptr<core::StoreSealer> sealer;
  std::unique_ptr<ChainedAuditLog> audit;
  std::unique_ptr<core::Mailer> mailer;
  std::unique_ptr<Api> api;
};

core::Result<std::unique_ptr<ServedModule>> Mount(ServeContext& ctx) {
  auto m = std::make_unique<Mounted>();
  std::string key_file = ctx.config.GetString("secrets.master_key_file");
  if (key_file.empty()) key_file = ctx.var_dir + "/keys/master.key";
  {
    std::error_code ec;
    auto dir = std::filesystem::path(key_file).parent_path();
    std::filesystem::create_directories(dir, ec);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  HP_ASSIGN_OR_RETURN(m->sealer, core::StoreSealer::Create(ctx.db, key_file));
  m->audit = std::make_unique<ChainedAuditLog>(ctx.clock);
  const std::string smtp = ctx.config.GetString("mail.smtp_url");
  if (smtp.empty()) {
    m->mailer = std::make_unique<FileMailer>(ctx.var_dir + "/mail");
  } else {
    m->mailer = core::NewSmtpMailer({.url = smtp, .username = ctx.config.GetString("mail.smtp_username"),
                                     .password = ctx.config.GetString("mail.smtp_password")});
  }
  ApiSettings s;
  s.session_idle_us = ctx.config.GetInt("auth.session_idle_minutes") * 60 * 1000000;
  s.session_absolute_us = ctx.config.GetInt("auth.session_absolute_hours") * 3600 * 1000000;
  s.max_failed_logins = static_cast<int>(ctx.config.GetInt("auth.max_failed_logins"));
  s.lockout_us = ctx.config.GetInt("auth.lockout_minutes") * 60 * 1000000;
  s.rate_limit_per_minute = static_cast<int>(ctx.config.GetInt("api.rate_limit_per_minute"));
  s.public_signup = ctx.config.GetBool("auth.public_signup");
  s.public_url = ctx.public_base_url;
  s.mail_from_address = ctx.config.GetString("mail.from_address");
  s.mail_from_name = ctx.config.GetString("mail.from_name");
  m->api = std::make_unique<Api>(ctx.db, ctx.clock, ctx.jobs, *m->sealer, *m->audit, s);
  ctx.services->Put<Api>(m->api.get());
  ctx.services->Put<core::AuditLog>(m->audit.get());
  ctx.services->Put<core::Sealer>(m->sealer.get());
  RegisterAccountRoutes(*m->api, ctx.router);
  RegisterOrganizationRoutes(*m->api, ctx.router);
  RegisterAdminRoutes(*m->api, ctx.router, ctx.jobs);

  core::Mailer* mailer = m->mailer.get();
  core::Sealer* sealer = m->sealer.get();
  ctx.workers.Register("mail.send", [mailer, sealer](core::JobContext& jc) -> core::Result<core::Json> {
    const auto& p = jc.job().payload;
    HP_ASSIGN_OR_RETURN(core::Secret body, sealer->Open(p.value("body_sealed", ""), "mail.send"));
    core::MailMessage msg{p.value("from_name", "hostplane"), p.value("from_address", ""), p.value("to", ""),
                          p.value("subject", ""), std::string(body.Reveal()), {}};
    HP_TRY(mailer->Send(msg));
    return core::Json{{"sent_to", msg.to}};
  });
  return std::unique_ptr<ServedModule>(std::move(m));
}

}  // namespace

ModuleSpec ControlPlaneModuleSpec() { return {"controlplane", AddConfig, Migrations, Mount}; }

}  // namespace hp::cp
