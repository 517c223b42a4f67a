// Billing in `hostplane serve`: catalog, channel prices, subscriptions, usage, invoices, the
// daily billing run, payments (card gateway adapter, or the simulated gateway under --dev),
// dunning with a control-plane ServiceSuspender, the ledger check, and the /api/v1 routes
// (billing_routes.cc). Composition as described in docs/billing.md "Composition root".
#include <cctype>
#include <sstream>

#include "api.h"
#include "billing_routes.h"
#include "hp/billing/commission.h"
#include "hp/billing/sim_gateway.h"
#include "hp/core/events.h"
#include "hp/core/http_client.h"
#include "hp/core/log.h"
#include "hp/core/random.h"
#include "hp/partner/branding.h"
#include "hp/provisioning/dedicated.h"
#include "hp/provisioning/shared_hosting.h"
#include "hp/provisioning/vps.h"
#include "module.h"
#include "rbac.h"
#include "tenancy_store.h"

namespace hp::cp {
namespace {

namespace prov = hp::provisioning;
using billing::Date;
using core::ErrorCode;
using core::Json;

// The data of invoice.issued / invoice.paid webhook events.
Json InvoiceEventData(const billing::Invoice& inv) {
  return Json{{"invoice_id", inv.id}, {"number", inv.number}, {"total", inv.totals.total.yen()},
              {"amount_paid", inv.amount_paid.yen()}, {"currency", "JPY"}};
}

// Placeholder issuer of --dev; refused outside --dev so no real invoice carries it.
constexpr const char* kDevRegistrationNumber = "T0000000000000";
// Durable job: on the content deletion date of a terminated organization, terminate its sites,
// delete its VPS and release its dedicated servers (docs/billing.md, Dunning).
constexpr const char* kContentDeletionJob = "billing.dunning.content_deletion";

std::string ValidateRegistration(const std::string& v) {
  auto st = billing::ValidateRegistrationNumber(v);
  return st ? "" : "must be 'T' followed by 13 digits (適格請求書発行事業者登録番号), e.g. T1234567890123";
}
std::string ValidatePrefix(const std::string& v) {
  if (v.empty() || v.size() > 16) return "must be 1 to 16 characters";
  for (char ch : v)
    if (!std::isupper(static_cast<unsigned char>(ch)) && !std::isdigit(static_cast<unsigned char>(ch)) && ch != '-')
      return "may contain only A-Z, 0-9 and '-'";
  return "";
}

core::Result<std::vector<int>> ParseDays(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty()) continue;
    if (item.size() > 4 || !std::all_of(item.begin(), item.end(), ::isdigit))
      return core::FailField(ErrorCode::kInvalidArgument, "billing.dunning.reminder_days",
                             "config key 'billing.dunning.reminder_days': a comma-separated list of days, e.g. 1,7,14");
    out.push_back(std::stoi(item));
  }
  return out;
}
std::string ValidateDays(const std::string& v) { return ParseDays(v) ? "" : "a comma-separated list of days, e.g. 1,7,14"; }

void AddConfig(core::ConfigSchema& s) {
  using core::ConfigType;
  s.Add({.key = "billing.issuer.name", .default_value = "hostplane development", .doc = "Issuer name printed on the platform's invoices."});
  s.Add({.key = "billing.issuer.registration_number", .default_value = kDevRegistrationNumber,
         .doc = "Qualified-invoice issuer registration number (T + 13 digits); the default is a --dev placeholder refused outside --dev.",
         .validate = ValidateRegistration});
  s.Add({.key = "billing.issuer.address", .default_value = "1-1 Development, Chiyoda-ku, Tokyo", .doc = "Issuer address printed on invoices."});
  s.Add({.key = "billing.tax_rounding", .default_value = "floor", .doc = "Rounding of consumption tax, once per rate per invoice.", .allowed = {"floor", "round", "ceil"}});
  s.Add({.key = "billing.invoice_prefix", .default_value = "INV", .doc = "Number prefix of the platform's gapless invoice series (PREFIX-00000001).", .validate = ValidatePrefix});
  s.Add({.key = "billing.payment_terms_days", .type = ConfigType::kInt, .default_value = "14", .doc = "Due date = issue date + this many days.", .min = 0, .max = 365});
  s.Add({.key = "billing.run_batch_size", .type = ConfigType::kInt, .default_value = "500", .doc = "Organizations per write transaction in the billing run.", .min = 1, .max = 100000});
  s.Add({.key = "billing.card_gateway.url", .default_value = "", .doc = "Base URL of the card gateway API; empty under --dev starts the simulated gateway on loopback, empty otherwise disables card payments."});
  s.Add({.key = "billing.card_gateway.api_key", .default_value = "", .doc = "Card gateway API key (Bearer); prefer the environment variable."});
  s.Add({.key = "billing.card_gateway.webhook_secret", .default_value = "", .doc = "HMAC secret of the card gateway's webhooks; prefer the environment variable."});
  s.Add({.key = "billing.card_gateway.webhook_tolerance_s", .type = ConfigType::kInt, .default_value = "300", .doc = "Accepted clock skew of webhook signatures.", .min = 1, .max = 86400});
  s.Add({.key = "billing.dunning.reminder_days", .default_value = "1,7,14", .doc = "Days after the due date on which payment reminders are e-mailed.", .validate = ValidateDays});
  s.Add({.key = "billing.dunning.suspend_day", .type = ConfigType::kInt, .default_value = "21", .doc = "Days after the due date when the organization is suspended.", .min = 1, .max = 3650});
  s.Add({.key = "billing.dunning.terminate_day", .type = ConfigType::kInt, .default_value = "45", .doc = "Days after the due date when services are terminated and content deletion is scheduled.", .min = 1, .max = 3650});
}

std::vector<const core::MigrationSet*> Migrations() { return {&billing::BillingMigrations()}; }

// The simulated gateway posts its webhooks to our public URL through the TLS front: trust the
// front's certificate and connect to the front's loopback address.
class FrontClient final : public core::HttpClient {
 public:
  FrontClient(std::unique_ptr<core::HttpClient> inner, std::string ca_file, std::string connect_to)
      : inner_(std::move(inner)), ca_file_(std::move(ca_file)), connect_to_(std::move(connect_to)) {}
  core::Result<core::HttpClientResponse> Do(const core::HttpClientRequest& request) override {
    core::HttpClientRequest r = request;
    r.ca_file = ca_file_;
    r.connect_to = connect_to_;
    return inner_->Do(r);
  }

 private:
  std::unique_ptr<core::HttpClient> inner_;
  std::string ca_file_, connect_to_;
};

// Without a card gateway, Payments still records bank transfers; card calls fail plainly.
class NoCardGateway final : public billing::PaymentGateway {
 public:
  core::Result<billing::GatewayCharge> Authorize(core::Money, const std::string&, const std::string&, const std::string&,
                                                 const std::string&) override {
    return Disabled();
  }
  core::Result<billing::GatewayCharge> Capture(const std::string&, core::Money, const std::string&) override { return Disabled(); }
  core::Result<billing::GatewayCharge> Refund(const std::string&, core::Money, const std::string&) override { return Disabled(); }
  core::Result<billing::GatewayEvent> ParseWebhook(const std::string&, const std::string&) override {
    return core::Fail(ErrorCode::kUnavailable, "no card gateway is configured");
  }

 private:
  static std::unexpected<core::Error> Disabled() {
    return core::Fail(ErrorCode::kUnavailable, "card payments are not configured (billing.card_gateway.url)");
  }
};

// Dunning's view of the control plane and provisioning. Suspension: organizations.status =
// suspended (members can read and pay but not change anything), every active shared-hosting site
// serves the suspension page, running VPS are stopped gracefully, powered-on dedicated servers
// are powered off; the services taken down are remembered (dunning_suspended_services) so that
// resumption brings back exactly those. Termination keeps everything down; the content goes on
// the deletion date (kContentDeletionJob). Reminders and state changes are e-mailed to the
// organization's owners, admins and billing members. Every step is audited; every call is
// idempotent (a crash before the dunning step is recorded repeats it).
//
// The provisioning services are looked up in the registry when dunning acts, not at mount, so
// the mount order does not matter (provisioning disabled: nothing to take down). A failing provisioning call is audited
// with result "failure" and does not fail the sweep: one stuck VPS must not stop dunning for
// every other organization.
class ControlPlaneSuspender final : public billing::ServiceSuspender {
 public:
  ControlPlaneSuspender(Api& api, billing::InvoiceStore& invoices, const ServiceRegistry& registry,
                        core::JobQueue& jobs)
      : api_(api), invoices_(invoices), registry_(registry), jobs_(jobs) {}

  core::Status SendReminder(const std::string& org_id, const std::string& invoice_id, int n) override {
    HP_ASSIGN_OR_RETURN(billing::Invoice inv, invoices_.Get(org_id, invoice_id));
    HP_ASSIGN_OR_RETURN(auto open, inv.totals.total.Sub(inv.amount_paid));
    const std::string subject = "Payment reminder " + std::to_string(n) + ": invoice " + inv.number + " is overdue";
    const std::string body = "Invoice " + inv.number + " of " + inv.issuer.name + " (" + open.Format() +
                             " open) was due on " + billing::FormatDate(inv.due_date) +
                             ".\n\nPlease pay it in the control panel (Billing > Invoices) or by bank transfer.\n"
                             "Unpaid invoices lead to the suspension of your services.\n\n" +
                             api_.settings().public_url + "/api/v1/organizations/" + org_id + "/invoices/" + invoice_id + ".html\n";
    return MailBilling(org_id, subject, body);
  }

  core::Status SuspendServices(const std::string& org_id, const std::string& reason) override {
    HP_ASSIGN_OR_RETURN(bool changed, SetStatus(org_id, "active", "suspended", "organization.suspend", {{"by", "billing"}, {"reason", reason}}));
    // Also on a repeat (changed == false): the crash may have come between the two.
    HP_TRY(TakeDown(org_id, /*remember=*/true));
    if (!changed) return core::Ok();
    return MailBilling(org_id, "Your services are suspended for an unpaid invoice",
                       "Your organization was suspended because an invoice is unpaid (" + reason +
                           ").\nYour websites show a suspension page and your servers are stopped.\n"
                           "Members can still sign in, see invoices and pay. Your services resume once it is paid.\n");
  }

  core::Status ResumeServices(const std::string& org_id) override {
    // Lift only a suspension billing made; an operator's suspension stays (and so do the services).
    HP_ASSIGN_OR_RETURN(bool ours, LastSuspensionByBilling(org_id));
    if (!ours) {
      // A repeat after our own unsuspend: finish bringing the services back.
      HP_ASSIGN_OR_RETURN(store::Organization o, api_.db().Read([&](SQLite::Database& tx) { return store::GetOrganization(tx, org_id); }));
      if (o.status == "active") HP_TRY(BringBack(org_id));
      return core::Ok();
    }
    HP_TRY(BringBack(org_id));
    HP_ASSIGN_OR_RETURN(bool changed, SetStatus(org_id, "suspended", "active", "organization.unsuspend", {{"by", "billing"}}));
    if (!changed) return core::Ok();
    return MailBilling(org_id, "Your services are active again",
                       "Thank you for your payment. Your organization is active again and your services are resuming.\n");
  }

  core::Status TerminateServices(const std::string& org_id) override {
    HP_TRY(SetStatus(org_id, "suspended", "terminated", "organization.terminate", {{"by", "billing"}}));
    // Everything stays down until the content is deleted; nothing will be resumed.
    HP_TRY(TakeDown(org_id, /*remember=*/false));
    return api_.db().Write([&](SQLite::Database& tx) -> core::Status {
      SQLite::Statement d(tx, "DELETE FROM dunning_suspended_services WHERE organization_id = ?");
      d.bind(1, org_id);
      d.exec();
      return core::Ok();
    });
  }

  core::Status ScheduleContentDeletion(const std::string& org_id, Date on) override {
    core::EnqueueOptions o;
    o.idempotency_key = "content-deletion:" + org_id;
    o.organization_id = org_id;
    o.run_at = billing::StartOfDay(on);
    HP_ASSIGN_OR_RETURN(core::Job job, jobs_.Enqueue(kContentDeletionJob, Json{{"organization_id", org_id}, {"on", billing::FormatDate(on)}}, o));
    return api_.db().Write([&](SQLite::Database& tx) -> core::Status {
      HP_ASSIGN_OR_RETURN(store::Organization org, store::GetOrganization(tx, org_id));
      return api_.audit().Append(tx, Event(org, "organization.content_deletion.schedule", "organization:" + org_id,
                                           {{"on", billing::FormatDate(on)}, {"job", job.id}}));
    });
  }

  // kContentDeletionJob: terminate sites (user, files, server block), delete VPS (disks,
  // addresses) and release dedicated servers (disk wiped). Skipped when an operator reinstated
  // the organization. A provisioning error fails the job, which is retried; finished services
  // are not listed again, so a retry continues where it stopped.
  core::Result<Json> DeleteContent(const std::string& org_id) {
    HP_ASSIGN_OR_RETURN(store::Organization o, api_.db().Read([&](SQLite::Database& tx) { return store::GetOrganization(tx, org_id); }));
    if (o.status != "terminated") return Json{{"skipped", "organization is " + o.status}};
    int sites_n = 0, vps_n = 0, dedicated_n = 0;
    if (auto* sites = registry_.Get<prov::SharedHostingService>()) {
      HP_ASSIGN_OR_RETURN(auto list, sites->List(org_id));
      for (const auto& s : list) {
        if (s.state == prov::SiteState::kTerminating) continue;
        HP_TRY(Audited(org_id, "site", s.id, "site.terminate", sites->TerminateSite(org_id, s.id)));
        ++sites_n;
      }
    }
    if (auto* vps = registry_.Get<prov::VpsService>()) {
      HP_ASSIGN_OR_RETURN(auto list, vps->List(org_id));
      for (const auto& v : list) {
        if (v.state == prov::VpsState::kDeleting || v.state == prov::VpsState::kDeleted) continue;
        HP_TRY(Audited(org_id, "vps", v.id, "vps.delete", vps->DeleteVps(org_id, v.id)));
        ++vps_n;
      }
    }
    if (auto* ded = registry_.Get<prov::DedicatedService>()) {
      HP_ASSIGN_OR_RETURN(auto list, ded->List(org_id));
      for (const auto& d : list) {
        if (d.state != prov::DedicatedState::kActive && d.state != prov::DedicatedState::kFailed) continue;
        HP_TRY(Audited(org_id, "dedicated", d.id, "dedicated.release", ded->Release(org_id, d.id)));
        ++dedicated_n;
      }
    }
    return Json{{"sites", sites_n}, {"vps", vps_n}, {"dedicated", dedicated_n}};
  }

 private:
  // Suspends active sites, stops running VPS (graceful, then forced after the configured
  // timeout) and powers off dedicated servers. With `remember`, each one is recorded before the
  // call, so ResumeServices brings back exactly these.
  core::Status TakeDown(const std::string& org_id, bool remember) {
    if (auto* sites = registry_.Get<prov::SharedHostingService>()) {
      HP_ASSIGN_OR_RETURN(auto list, sites->List(org_id));
      for (const auto& s : list) {
        if (s.state != prov::SiteState::kActive) continue;  // already down, or not serving yet
        HP_TRY(TakeDownOne(org_id, "site", s.id, "site.suspend", remember, [&] { return sites->SuspendSite(org_id, s.id); }));
      }
    }
    if (auto* vps = registry_.Get<prov::VpsService>()) {
      HP_ASSIGN_OR_RETURN(auto list, vps->List(org_id));
      for (const auto& v : list) {
        if (v.state != prov::VpsState::kRunning) continue;  // a VPS the customer stopped stays stopped
        HP_TRY(TakeDownOne(org_id, "vps", v.id, "vps.stop", remember, [&] { return vps->StopVps(org_id, v.id); }));
      }
    }
    if (auto* ded = registry_.Get<prov::DedicatedService>()) {
      HP_ASSIGN_OR_RETURN(auto list, ded->List(org_id));
      for (const auto& d : list) {
        if (d.state != prov::DedicatedState::kActive || !d.powered_on) continue;
        HP_TRY(TakeDownOne(org_id, "dedicated", d.id, "dedicated.power_off", remember,
                           [&] { return ded->Power(org_id, d.id, prov::PowerAction::kOff); }));
      }
    }
    return core::Ok();
  }

  template <typename Call>
  core::Status TakeDownOne(const std::string& org_id, const std::string& kind, const std::string& id, const std::string& action,
                           bool remember, Call call) {
    if (remember) HP_TRY(Remember(org_id, kind, id, true));
    auto r = call();
    if (!r && remember) HP_TRY(Remember(org_id, kind, id, false));  // not ours to bring back
    return Audited(org_id, kind, id, action, r, /*fail=*/false);
  }

  // Brings back the remembered services that are still down and forgets them.
  core::Status BringBack(const std::string& org_id) {
    HP_ASSIGN_OR_RETURN(auto rows, api_.db().Read([&](SQLite::Database& tx) -> core::Result<std::vector<std::pair<std::string, std::string>>> {
      SQLite::Statement q(tx, "SELECT kind, resource_id FROM dunning_suspended_services WHERE organization_id = ? ORDER BY suspended_at, kind, resource_id");
      q.bind(1, org_id);
      std::vector<std::pair<std::string, std::string>> out;
      while (q.executeStep()) out.emplace_back(q.getColumn(0).getString(), q.getColumn(1).getString());
      return out;
    }));
    for (const auto& [kind, id] : rows) {
      if (kind == "site") {
        if (auto* sites = registry_.Get<prov::SharedHostingService>()) {
          auto s = sites->Get(org_id, id);
          if (s && (s->state == prov::SiteState::kSuspended || s->state == prov::SiteState::kActive))
            HP_TRY(Audited(org_id, kind, id, "site.unsuspend", sites->UnsuspendSite(org_id, id), false));
        }
      } else if (kind == "vps") {
        if (auto* vps = registry_.Get<prov::VpsService>()) {
          auto v = vps->Get(org_id, id);
          if (v && v->state == prov::VpsState::kStopped) HP_TRY(Audited(org_id, kind, id, "vps.start", vps->StartVps(org_id, id), false));
        }
      } else if (kind == "dedicated") {
        if (auto* ded = registry_.Get<prov::DedicatedService>()) {
          auto d = ded->Get(org_id, id);
          if (d && d->state == prov::DedicatedState::kActive && !d->powered_on)
            HP_TRY(Audited(org_id, kind, id, "dedicated.power_on", ded->Power(org_id, id, prov::PowerAction::kOn), false));
        }
      }
      HP_TRY(Remember(org_id, kind, id, false));
    }
    return core::Ok();
  }

  core::Status Remember(const std::string& org_id, const std::string& kind, const std::string& id, bool on) {
    return api_.db().Write([&](SQLite::Database& tx) -> core::Status {
      SQLite::Statement q(tx, on ? "INSERT OR IGNORE INTO dunning_suspended_services(organization_id, kind, resource_id, suspended_at) VALUES (?,?,?,?)"
                                 : "DELETE FROM dunning_suspended_services WHERE organization_id = ? AND kind = ? AND resource_id = ?");
      q.bind(1, org_id);
      q.bind(2, kind);
      q.bind(3, id);
      if (on) q.bind(4, api_.Now());
      q.exec();
      return core::Ok();
    });
  }

  // Audits a provisioning call made for billing ({by: billing, operation} or the error); with
  // `fail`, a failed call is returned as the error.
  core::Status Audited(const std::string& org_id, const std::string& kind, const std::string& id, const std::string& action,
                       const core::Result<prov::Operation>& r, bool fail = true) {
    Json detail{{"by", "billing"}};
    if (r) detail["operation"] = r->id;
    else detail["error"] = r.error().detail;
    if (!r) core::log::Warn("billing: provisioning call failed", {{"organization", org_id}, {"action", action}, {"target", id}, {"error", r.error().detail}});
    HP_TRY(api_.db().Write([&](SQLite::Database& tx) -> core::Status {
      HP_ASSIGN_OR_RETURN(store::Organization o, store::GetOrganization(tx, org_id));
      core::AuditEvent e = Event(o, action, kind + ":" + id, detail);
      if (!r) e.result = "failure";
      return api_.audit().Append(tx, e);
    }));
    if (!r && fail) return std::unexpected(r.error());
    return core::Ok();
  }

  core::AuditEvent Event(const store::Organization& o, const std::string& action, Json detail) {
    return Event(o, action, "organization:" + o.id, std::move(detail));
  }
  core::AuditEvent Event(const store::Organization& o, const std::string& action, const std::string& target, Json detail) {
    core::AuditEvent e;
    e.actor_type = "system";
    e.actor_id = "billing-dunning";
    e.organization_id = o.id;
    e.partner_id = o.partner_id;
    e.action = action;
    e.target = target;
    e.detail = std::move(detail);
    return e;
  }

  // from -> to in one transaction with its audit event; false when the status was not `from`.
  core::Result<bool> SetStatus(const std::string& org_id, const std::string& from, const std::string& to,
                               const std::string& action, Json detail) {
    return api_.db().Write([&](SQLite::Database& tx) -> core::Result<bool> {
      HP_ASSIGN_OR_RETURN(store::Organization o, store::GetOrganization(tx, org_id));
      if (o.status != from) return false;
      HP_TRY(store::SetOrganizationStatus(tx, o.row, to, api_.Now()));
      HP_TRY(api_.audit().Append(tx, Event(o, action, std::move(detail))));
      if (to == "suspended")
        HP_TRY(core::RecordEventInTx(*api_.jobs(), tx, "organization.suspended", o.id, Json{{"status", to}, {"by", "billing"}}));
      return true;
    });
  }

  core::Result<bool> LastSuspensionByBilling(const std::string& org_id) {
    AuditQuery q;
    q.organization_id = org_id;
    q.action_prefix = "organization.";
    q.limit = 100;
    bool ours = false;
    for (;;) {
      HP_ASSIGN_OR_RETURN(auto rows, ChainedAuditLog::Query(api_.db(), q));
      for (const auto& r : rows) {
        const auto& a = r.event.action;
        if (a == "organization.suspend" || a == "organization.unsuspend")
          ours = a == "organization.suspend" && r.event.detail.value("by", "") == "billing";
      }
      if (rows.size() < static_cast<size_t>(q.limit)) break;
      q.after_seq = rows.back().seq;
    }
    return ours;
  }

  core::Status MailBilling(const std::string& org_id, const std::string& subject, const std::string& body) {
    HP_ASSIGN_OR_RETURN(auto members, api_.db().Read([&](SQLite::Database& tx) -> core::Result<std::vector<store::Member>> {
      HP_ASSIGN_OR_RETURN(store::Organization o, store::GetOrganization(tx, org_id));
      return store::ListMembers(tx, o.row);
    }));
    for (const auto& m : members)
      if (m.role == "owner" || m.role == "admin" || m.role == "billing") HP_TRY(api_.QueueMail(m.email, subject, body));
    return core::Ok();
  }

  Api& api_;
  billing::InvoiceStore& invoices_;
  const ServiceRegistry& registry_;
  core::JobQueue& jobs_;
};

class Mounted final : public ServedModule {
 public:
  core::RandomIdSource ids;
  std::unique_ptr<core::HttpClient> http;
  std::unique_ptr<core::HttpClient> front_http;
  std::unique_ptr<billing::Catalog> catalog;
  std::unique_ptr<billing::PriceLists> prices;
  std::unique_ptr<billing::Ledger> ledger;
  std::unique_ptr<billing::InvoiceStore> invoices;
  std::unique_ptr<billing::Subscriptions> subs;
  std::unique_ptr<billing::UsageMeter> usage;
  std::unique_ptr<billing::BillingRun> run;
  std::unique_ptr<billing::SimulatedCardGateway> sim;
  std::unique_ptr<billing::PaymentGateway> gateway;
  std::unique_ptr<billing::Payments> payments;
  std::unique_ptr<billing::Commissions> commissions;
  std::unique_ptr<ControlPlaneSuspender> suspender;
  std::unique_ptr<billing::Dunning> dunning;
  BillingServices services;
  void Stop() override {
    if (sim) sim->Shutdown();
  }
};

// The daily run is a chain of durable jobs, one per UTC day (idempotency key "billing-run:<day>"),
// each enqueueing the next before it runs, so a failing day does not break the chain.
core::Status ScheduleRun(core::JobQueue& jobs, Date day) {
  core::EnqueueOptions o;
  o.idempotency_key = "billing-run:" + billing::FormatDate(day);
  o.run_at = billing::StartOfDay(day);
  HP_TRY(jobs.Enqueue(billing::kBillingRunJob, Json{{"scheduled", true}, {"date", billing::FormatDate(day)}}, o));
  return core::Ok();
}

std::string ConnectAddress(std::string listen) {
  auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  return host + ":" + port;
}

core::Result<std::unique_ptr<ServedModule>> Mount(ServeContext& ctx) {
  Api* api = ctx.services->Get<Api>();
  auto* audit = ctx.services->Get<core::AuditLog>();
  if (!api || !audit) return core::Fail(ErrorCode::kInternal, "billing needs the control plane module mounted first");
  const auto& cfg = ctx.config;
  auto m = std::make_unique<Mounted>();

  billing::BillingConfig bc;
  bc.platform_issuer = {cfg.GetString("billing.issuer.name"), cfg.GetString("billing.issuer.registration_number"),
                        cfg.GetString("billing.issuer.address")};
  if (auto st = billing::ValidateRegistrationNumber(bc.platform_issuer.registration_number); !st)
    return core::FailField(ErrorCode::kInvalidArgument, "billing.issuer.registration_number",
                           "config key 'billing.issuer.registration_number': must be 'T' followed by 13 digits");
  if (!ctx.dev && bc.platform_issuer.registration_number == kDevRegistrationNumber)
    return core::FailField(ErrorCode::kInvalidArgument, "billing.issuer.registration_number",
                           "config key 'billing.issuer.registration_number': set your own issuer registration number (the default is a --dev placeholder)");
  HP_ASSIGN_OR_RETURN(bc.rounding, billing::ParseTaxRounding(cfg.GetString("billing.tax_rounding")));
  bc.invoice_prefix = cfg.GetString("billing.invoice_prefix");
  bc.payment_terms_days = static_cast<int>(cfg.GetInt("billing.payment_terms_days"));
  bc.batch_size = static_cast<int>(cfg.GetInt("billing.run_batch_size"));

  billing::DunningPolicy policy;
  HP_ASSIGN_OR_RETURN(policy.reminder_days, ParseDays(cfg.GetString("billing.dunning.reminder_days")));
  policy.suspend_day = static_cast<int>(cfg.GetInt("billing.dunning.suspend_day"));
  policy.terminate_day = static_cast<int>(cfg.GetInt("billing.dunning.terminate_day"));
  if (auto st = billing::ValidateDunningPolicy(policy); !st)
    return core::FailField(ErrorCode::kInvalidArgument, st.error().field, "config key '" + st.error().field + "': " + st.error().detail);

  const billing::BillingDeps deps{&ctx.db, &ctx.clock, &m->ids, audit};
  m->catalog = std::make_unique<billing::Catalog>(deps);
  m->prices = std::make_unique<billing::PriceLists>(deps, bc, *m->catalog);
  m->ledger = std::make_unique<billing::Ledger>(deps);
  m->invoices = std::make_unique<billing::InvoiceStore>(deps, bc, *m->ledger);
  m->subs = std::make_unique<billing::Subscriptions>(deps, *m->prices, *m->catalog);
  m->usage = std::make_unique<billing::UsageMeter>(deps);
  m->run = std::make_unique<billing::BillingRun>(deps, bc, *m->catalog, *m->prices, *m->invoices);
  m->suspender = std::make_unique<ControlPlaneSuspender>(*api, *m->invoices, *ctx.services, ctx.jobs);
  m->dunning = std::make_unique<billing::Dunning>(deps, policy, *m->suspender);
  billing::Dunning* dunning = m->dunning.get();
  m->run->OnInvoiceIssued([dunning, jobs = &ctx.jobs](SQLite::Database& tx, const billing::Invoice& inv) -> core::Status {
    HP_TRY(dunning->Open(tx, inv));
    return core::RecordEventInTx(*jobs, tx, "invoice.issued", inv.organization_id, InvoiceEventData(inv), inv.id);
  });

  // Card payments: the configured gateway, or under --dev the simulator on loopback.
  m->http = core::NewCurlHttpClient();
  std::string gw_url = cfg.GetString("billing.card_gateway.url");
  std::string api_key = cfg.GetString("billing.card_gateway.api_key");
  std::string webhook_secret = cfg.GetString("billing.card_gateway.webhook_secret");
  if (gw_url.empty() && ctx.dev) {
    if (api_key.empty()) api_key = "sk_dev_" + core::NewPublicId();
    if (webhook_secret.empty()) webhook_secret = "whsec_dev_" + core::NewPublicId();
    std::string cert = cfg.GetString("http.tls_cert");
    if (cert.empty()) cert = ctx.var_dir + "/tls/server.crt";
    m->front_http = std::make_unique<FrontClient>(core::NewCurlHttpClient(), cert, ConnectAddress(cfg.GetString("http.listen")));
    HP_ASSIGN_OR_RETURN(m->sim, billing::SimulatedCardGateway::Create(
                                    {.api_key = api_key, .webhook_secret = webhook_secret,
                                     .webhook_url = ctx.public_base_url + "/api/v1/billing/webhooks/card"},
                                    ctx.clock, *m->front_http, ctx.metrics));
    gw_url = m->sim->url();
    core::log::Info("billing: simulated card gateway (--dev)", {{"url", gw_url}});
  }
  if (!gw_url.empty()) {
    HP_ASSIGN_OR_RETURN(m->gateway, billing::HttpCardGateway::Create(
                                        {.base_url = gw_url,
                                         .api_key = core::Secret(api_key),
                                         .webhook_secret = core::Secret(webhook_secret),
                                         .webhook_tolerance_seconds = cfg.GetInt("billing.card_gateway.webhook_tolerance_s")},
                                        *m->http, ctx.clock));
  } else {
    m->gateway = std::make_unique<NoCardGateway>();
    core::log::Warn("billing: no card gateway configured (billing.card_gateway.url); card payments are disabled");
  }
  m->payments = std::make_unique<billing::Payments>(deps, *m->gateway, *m->invoices, *m->ledger);
  // Agency commissions: posted in the paying transaction, reversed in a credit note's.
  m->commissions = std::make_unique<billing::Commissions>(deps, *m->prices, *m->ledger);
  billing::Commissions* commissions = m->commissions.get();
  core::JobQueue* event_jobs = &ctx.jobs;
  m->payments->OnInvoicePaid([dunning, commissions, event_jobs](SQLite::Database& tx, const billing::Invoice& inv) -> core::Status {
    HP_TRY(dunning->OnPaid(tx, inv));
    HP_TRY(commissions->OnInvoicePaid(tx, inv));
    return core::RecordEventInTx(*event_jobs, tx, "invoice.paid", inv.organization_id,
                                 InvoiceEventData(inv), inv.id);
  });
  m->invoices->OnCreditNoteIssued([commissions](SQLite::Database& tx, const billing::Invoice& note, const billing::Invoice& orig) {
    return commissions->OnCreditNote(tx, note, orig);
  });
  // The partners module (mounted later) shows statements to agencies through /partner/v1.
  ctx.services->Put<billing::Commissions>(commissions);

  // Reseller/OEM presentation lives in the partner portal's branding, which the partner keeps
  // itself: its invoice issuer (name, registration number, address) is printed on its customers'
  // invoices, and its brand heads their documents. Looked up when used (partner mounts later).
  ServiceRegistry* registry = ctx.services;
  m->prices->SetPartnerIssuerSource([registry](const std::string& partner_id) -> core::Result<std::optional<billing::Issuer>> {
    auto* branding = registry->Get<partner::BrandingStore>();
    if (!branding) return std::optional<billing::Issuer>();
    HP_ASSIGN_OR_RETURN(auto b, branding->Get(partner_id));
    if (!b || b->invoice_issuer.name.empty()) return std::optional<billing::Issuer>();
    return std::optional<billing::Issuer>(billing::Issuer{b->invoice_issuer.name, b->invoice_issuer.registration_number, b->invoice_issuer.address});
  });
  billing::PriceLists* prices = m->prices.get();
  auto brand_of = [registry, prices](const std::string& org_id) -> std::string {
    auto acc = prices->GetAccount(org_id);
    if (!acc || (acc->channel != billing::Channel::kReseller && acc->channel != billing::Channel::kOem)) return "";
    auto* branding = registry->Get<partner::BrandingStore>();
    if (!branding) return "";
    auto b = branding->Get(acc->partner_id);
    return b && *b ? (*b)->brand_name : "";
  };
  if (!gw_url.empty()) {
    // Payments::MountRoutes' route, declared public for /openapi.json: the caller is the gateway,
    // authenticated by the HMAC signature.
    billing::Payments* p = m->payments.get();
    ctx.router.AddSync({.method = "POST", .pattern = "/api/v1/billing/webhooks/card",
                        .summary = "Card gateway webhook (X-Gateway-Signature: HMAC-SHA256; 200 processed or duplicate, 401 bad signature).",
                        .tag = "billing", .permission = kPublic},
                       [p](const core::http::Request& req) {
                         auto r = p->HandleWebhook(req.body, req.Header("x-gateway-signature"));
                         if (!r) return core::http::Response::FromError(r.error());
                         return core::http::Response::Json(200, Json{{"duplicate", r->duplicate}, {"effect", r->effect}});
                       });
  }

  // Jobs.
  m->dunning->RegisterHandlers(ctx.workers, ctx.jobs);
  HP_TRY(m->dunning->Start(ctx.jobs));
  ControlPlaneSuspender* suspender = m->suspender.get();
  ctx.workers.Register(kContentDeletionJob, [suspender](core::JobContext& jc) -> core::Result<Json> {
    return suspender->DeleteContent(jc.job().payload.value("organization_id", ""));
  });
  m->ledger->RegisterHandlers(ctx.workers, ctx.jobs);
  HP_TRY(m->ledger->ScheduleDailyCheck(ctx.jobs));
  billing::BillingRun* run = m->run.get();
  core::JobQueue* jobs = &ctx.jobs;
  const core::Clock* clock = &ctx.clock;
  ctx.workers.Register(billing::kBillingRunJob, [run, jobs, clock](core::JobContext& jc) -> core::Result<Json> {
    const Json& p = jc.job().payload;
    const Date today = billing::ToDate(clock->Now());
    billing::Actor actor{"system", "billing-run", "", ""};
    Date day = today;
    if (p.value("scheduled", false)) {
      HP_TRY(ScheduleRun(*jobs, billing::AddDays(today, 1)));
    } else {
      HP_ASSIGN_OR_RETURN(day, billing::ParseDate(p.value("date", "")));
      actor = {p.value("actor_type", "staff"), p.value("actor_id", ""), p.value("source_ip", ""), p.value("request_id", "")};
    }
    HP_ASSIGN_OR_RETURN(billing::BillingRunResult r, run->Run(day, actor));
    return Json{{"date", billing::FormatDate(day)}, {"renewed", r.renewed}, {"ended", r.ended},
                {"usage_records_rated", r.usage_records_rated}, {"invoices", r.invoices}, {"invoiced_total", r.invoiced_total.yen()}};
  });
  HP_TRY(ScheduleRun(ctx.jobs, billing::ToDate(ctx.clock.Now())));

  billing::Payments* payments = m->payments.get();
  billing::InvoiceStore* invoices = m->invoices.get();
  billing::SimulatedCardGateway* sim = m->sim.get();
  ctx.workers.Register(kCardPaymentJob, [payments, invoices, sim, jobs](core::JobContext& jc) -> core::Result<Json> {
    const Json& p = jc.job().payload;
    const std::string org = p.value("organization_id", ""), invoice = p.value("invoice_id", "");
    HP_ASSIGN_OR_RETURN(billing::Invoice inv, invoices->Get(org, invoice));
    // A retried job after a successful capture: nothing left to do.
    if (inv.status == billing::InvoiceStatus::kPaid) return Json{{"invoice", invoice}, {"state", "paid"}};
    billing::Actor actor{p.value("actor_type", "user"), p.value("actor_id", ""), p.value("source_ip", ""), p.value("request_id", "")};
    HP_ASSIGN_OR_RETURN(billing::Payment pay, payments->PayByCard(org, invoice, p.value("card_token", ""), actor));
    if (sim) {
      core::EnqueueOptions o;
      o.idempotency_key = "webhooks:" + pay.id;
      o.max_attempts = 5;
      HP_TRY(jobs->Enqueue(kSimWebhookJob, Json::object(), o));
    }
    return Json{{"invoice", invoice}, {"state", "paid"}, {"payment", pay.id}, {"amount", pay.amount.yen()}};
  });
  if (sim) {
    // What the real gateway does on its own: POST the signed events to our webhook route.
    ctx.workers.Register(kSimWebhookJob, [sim](core::JobContext&) -> core::Result<Json> {
      HP_ASSIGN_OR_RETURN(int delivered, sim->DeliverPending());
      return Json{{"delivered", delivered}};
    });
  }

  m->services = BillingServices{bc, m->catalog.get(), m->prices.get(), m->subs.get(), m->usage.get(), m->invoices.get(),
                                m->ledger.get(), m->payments.get(), !gw_url.empty(), m->dunning.get(), m->run.get(), &ctx.jobs, &ctx.workers,
                                commissions, brand_of};
  RegisterBillingRoutes(*api, ctx.router, m->services);
  RegisterBillingAdminRoutes(*api, ctx.router, m->services);
  if (sim) {
    // --dev only: what an operator does in the real gateway's own dashboard, outside hostplane:
    // refund a card payment there. The simulator refunds it and queues a charge.refunded event
    // without our metadata; its delivery to our webhook issues the credit note (-CN series).
    core::http::RouteInfo info;
    info.method = "POST";
    info.pattern = "/api/v1/admin/billing/dev/gateway-dashboard/refunds";
    info.summary = "--dev only: refund a card payment (organization, payment, amount) in the simulated gateway's own dashboard, as if outside hostplane; its webhook then issues the credit note.";
    info.tag = "admin";
    info.permission = kStaff;
    info.request_schema = {{"type", "object"}, {"required", {"organization", "payment", "amount"}}};
    core::HttpClient* http = m->http.get();
    core::WorkerPool* workers = &ctx.workers;
    api->Register(ctx.router, std::move(info), [api, payments, sim, http, jobs, workers, api_key](ApiContext& c) -> core::Result<core::http::Response> {
      HP_ASSIGN_OR_RETURN(std::string org, core::GetString(c.body, "organization"));
      HP_ASSIGN_OR_RETURN(std::string payment, core::GetString(c.body, "payment"));
      HP_ASSIGN_OR_RETURN(int64_t amount, core::GetInt(c.body, "amount"));
      if (amount <= 0) return core::FailField(ErrorCode::kInvalidArgument, "amount", "must be a positive number of yen");
      HP_ASSIGN_OR_RETURN(auto list, payments->List(org));
      const billing::Payment* pay = nullptr;
      for (const auto& p : list)
        if (p.id == payment) pay = &p;
      if (!pay || pay->method != "card") return core::FailField(ErrorCode::kNotFound, "payment", "no card payment " + payment + " of organization " + org);
      core::HttpClientRequest r;
      r.method = "POST";
      r.url = sim->url() + "/dashboard/authorizations/" + pay->gateway_ref + "/refund";
      r.body = Json{{"amount", amount}}.dump();
      r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + api_key}};
      HP_ASSIGN_OR_RETURN(core::HttpClientResponse resp, http->Do(r));
      if (resp.status != 200) return core::FailField(ErrorCode::kConflict, "amount", "the gateway refused the refund: " + resp.body);
      core::EnqueueOptions o;
      o.idempotency_key = "webhooks:dashboard:" + core::NewPublicId();
      o.max_attempts = 5;
      HP_ASSIGN_OR_RETURN(core::Job job, jobs->Enqueue(kSimWebhookJob, Json::object(), o));
      workers->Notify();
      auto ev = c.Event("billing.dev.gateway_dashboard_refund", "payment:" + payment);
      ev.organization_id = org;
      ev.detail = {{"amount", amount}};
      api->AuditAlone(ev);
      return core::http::Response::Json(202, Json{{"payment", payment}, {"amount", amount}, {"webhook_job", job.id}});
    });
  }
  return std::unique_ptr<ServedModule>(std::move(m));
}

}  // namespace

ModuleSpec BillingModuleSpec() { return {"billing", AddConfig, Migrations, Mount}; }

}  // namespace hp::cp
