// Dedicated servers: allocate (claim a whole host, disk, domain, power on), power on/off/reset,
// release (destroy, wipe, delete, undefine, return the host). Each job step looks first.
#include "hp/provisioning/dedicated.h"

#include <functional>
#include <regex>

#include "hp/core/events.h"
#include "hp/core/json.h"
#include "hp/core/log.h"

namespace hp::provisioning {

using core::ErrorCode;
using core::Fail;
using core::FailField;
using core::Json;
using core::Result;
using core::Status;

std::string_view DedicatedStateName(DedicatedState s) {
  switch (s) {
    case DedicatedState::kAllocating: return "allocating";
    case DedicatedState::kActive: return "active";
    case DedicatedState::kReleasing: return "releasing";
    case DedicatedState::kReleased: return "released";
    case DedicatedState::kFailed: return "failed";
  }
  return "failed";
}

namespace {

DedicatedState ParseState(const std::string& s) {
  for (auto v : {DedicatedState::kAllocating, DedicatedState::kActive, DedicatedState::kReleasing,
                 DedicatedState::kReleased, DedicatedState::kFailed})
    if (DedicatedStateName(v) == s) return v;
  return DedicatedState::kFailed;
}

std::string DiskName(const std::string& id) { return "hp-" + id + "-disk.qcow2"; }

bool IsPermanent(ErrorCode c) {
  return c == ErrorCode::kInvalidArgument || c == ErrorCode::kNotFound ||
         c == ErrorCode::kPermissionDenied || c == ErrorCode::kAlreadyExists;
}

struct Row {
  DedicatedServer s;
  std::string zone;
  std::string template_name;
};

constexpr const char* kCols =
    "public_id, organization_id, hostname, zone, template, state, host_public_id, powered_on,"
    " op_job, last_error, created_at FROM prov_dedicated";

Row RowOf(SQLite::Statement& q) {
  Row r;
  int i = 0;
  r.s.id = q.getColumn(i++).getString();
  r.s.organization_id = q.getColumn(i++).getString();
  r.s.hostname = q.getColumn(i++).getString();
  r.zone = q.getColumn(i++).getString();
  r.template_name = q.getColumn(i++).getString();
  r.s.state = ParseState(q.getColumn(i++).getString());
  r.s.host_id = q.getColumn(i++).getString();
  r.s.powered_on = q.getColumn(i++).getInt() != 0;
  r.s.operation_id = q.getColumn(i++).getString();
  r.s.last_error = q.getColumn(i++).getString();
  r.s.created_at = core::FromUnixMicros(q.getColumn(i++).getInt64());
  r.s.domain_name = "hp-" + r.s.id;
  return r;
}

class Service final : public DedicatedService {
 public:
  Service(const DedicatedServiceDeps& d, DedicatedOptions o) : d_(d), opt_(std::move(o)) {}

  Result<Operation> Allocate(const AllocateDedicatedRequest& r) override {
    static const std::regex kHost(
        "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$");
    if (r.organization_id.empty())
      return FailField(ErrorCode::kInvalidArgument, "organization_id", "organization is empty");
    if (r.hostname.size() > 253 || !std::regex_match(r.hostname, kHost))
      return FailField(ErrorCode::kInvalidArgument, "hostname",
                       "hostname must be lower-case DNS labels (a-z, 0-9, -)");
    if (r.zone.empty()) return FailField(ErrorCode::kInvalidArgument, "zone", "zone is required");
    HP_TRY(d_.inventory->GetTemplateByName(r.template_name));
    const std::string id = d_.ids->NewId();
    core::EnqueueOptions eo;
    eo.organization_id = r.organization_id;
    eo.max_attempts = opt_.max_attempts;
    if (!r.idempotency_key.empty()) eo.idempotency_key = r.organization_id + ":" + r.idempotency_key;
    HP_ASSIGN_OR_RETURN(core::Job job,
                        d_.jobs->Enqueue(kDedicatedAllocateJob, Json{{"server_id", id}}, eo));
    const std::string job_id = job.payload.value("server_id", "");
    if (job_id != id) return Operation{job.id, job_id};
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    HP_TRY(d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement ins(db,
          "INSERT INTO prov_dedicated(public_id, organization_id, hostname, zone, template, state,"
          " op_job, created_at, updated_at) VALUES (?,?,?,?,?,'allocating',?,?,?)");
      ins.bind(1, id);
      ins.bind(2, r.organization_id);
      ins.bind(3, r.hostname);
      ins.bind(4, r.zone);
      ins.bind(5, r.template_name);
      ins.bind(6, job.id);
      ins.bind(7, now);
      ins.bind(8, now);
      ins.exec();
      return core::Ok();
    }));
    return Operation{job.id, id};
  }

  Result<Operation> Power(const std::string& org, const std::string& id, PowerAction a) override {
    const char* action = a == PowerAction::kOn ? "on" : a == PowerAction::kOff ? "off" : "reset";
    return Begin(org, id, kDedicatedPowerJob, Json{{"action", action}}, false);
  }

  Result<Operation> Release(const std::string& org, const std::string& id) override {
    return Begin(org, id, kDedicatedReleaseJob, Json::object(), true);
  }

  Result<DedicatedServer> Get(const std::string& org, const std::string& id) override {
    HP_ASSIGN_OR_RETURN(Row r, Load(org, id));
    if (r.s.state == DedicatedState::kReleased)
      return Fail(ErrorCode::kNotFound, "server " + id + " not found");
    return r.s;
  }

  Result<std::vector<DedicatedServer>> List(const std::string& org) override {
    HP_ASSIGN_OR_RETURN(std::vector<Row> rows, d_.db->Read([&](SQLite::Database& db) -> Result<std::vector<Row>> {
      SQLite::Statement q(db, std::string("SELECT ") + kCols +
                                  " WHERE organization_id=? AND state!='released' ORDER BY created_at, id");
      q.bind(1, org);
      std::vector<Row> out;
      while (q.executeStep()) out.push_back(RowOf(q));
      return out;
    }));
    std::vector<DedicatedServer> out;
    for (Row& r : rows) {
      Fill(r);
      out.push_back(std::move(r.s));
    }
    return out;
  }

  void RegisterHandlers(core::WorkerPool& workers) override {
    workers.Register(kDedicatedAllocateJob, [this](core::JobContext& c) { return HandleAllocate(c); });
    workers.Register(kDedicatedPowerJob, [this](core::JobContext& c) { return HandlePower(c); });
    workers.Register(kDedicatedReleaseJob, [this](core::JobContext& c) { return HandleRelease(c); });
  }

 private:
  void Fill(Row& r) {
    if (r.s.host_id.empty()) return;
    auto h = d_.inventory->GetHost(r.s.host_id);
    if (h) r.s.host_name = h->spec.name;
  }

  Result<Row> Load(const std::string& org, const std::string& id) {
    HP_ASSIGN_OR_RETURN(Row r, d_.db->Read([&](SQLite::Database& db) -> Result<Row> {
      SQLite::Statement q(db, std::string("SELECT ") + kCols + " WHERE public_id=? AND organization_id=?");
      q.bind(1, id);
      q.bind(2, org);
      if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "server " + id + " not found");
      return RowOf(q);
    }));
    Fill(r);
    return r;
  }

  // `also` runs in the same write transaction (e.g. to record a domain event with the change).
  Status Set(const std::string& id, const std::string& sql,
             const std::function<void(SQLite::Statement&)>& bind,
             const std::function<Status(SQLite::Database&)>& also = {}) {
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    return d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement u(db, "UPDATE prov_dedicated SET " + sql + ", updated_at=:now WHERE public_id=:id");
      bind(u);
      u.bind(":now", now);
      u.bind(":id", id);
      u.exec();
      return also ? also(db) : core::Ok();
    });
  }

  // service.provisioned / service.failed for `s`, recorded in the caller's transaction.
  std::function<Status(SQLite::Database&)> ServiceEvent(const DedicatedServer& s, std::string type,
                                                        const std::string& error = "") {
    return [this, &s, type = std::move(type), error](SQLite::Database& db) -> Status {
      Json data{{"service", "dedicated"}, {"id", s.id}, {"hostname", s.hostname}};
      if (!error.empty()) data["error"] = error;
      return core::RecordEventInTx(*d_.jobs, db, type, s.organization_id, data, type + ":" + s.id);
    };
  }

  Status SetState(const std::string& id, DedicatedState s, const std::string& err) {
    return Set(id, "state=:s, last_error=:e", [&](SQLite::Statement& u) {
      u.bind(":s", std::string(DedicatedStateName(s)));
      u.bind(":e", err);
    });
  }

  // One operation at a time; release is allowed from failed too (to clean up).
  Result<Operation> Begin(const std::string& org, const std::string& id, const char* kind,
                          Json payload, bool release) {
    HP_ASSIGN_OR_RETURN(Row row, Load(org, id));
    const DedicatedState s = row.s.state;
    if (s == DedicatedState::kReleased) return Fail(ErrorCode::kNotFound, "server " + id + " not found");
    if (!(s == DedicatedState::kActive || (release && s == DedicatedState::kFailed)))
      return Fail(ErrorCode::kConflict, "server " + id + " is " + std::string(DedicatedStateName(s)));
    if (!row.s.operation_id.empty()) {
      auto prev = d_.jobs->Get(row.s.operation_id);
      if (prev && (prev->state == core::JobState::kQueued || prev->state == core::JobState::kRunning))
        return Fail(ErrorCode::kConflict, "operation " + row.s.operation_id + " is still in progress");
    }
    payload["server_id"] = id;
    core::EnqueueOptions eo;
    eo.organization_id = org;
    eo.max_attempts = opt_.max_attempts;
    HP_ASSIGN_OR_RETURN(core::Job job, d_.jobs->Enqueue(kind, payload, eo));
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    HP_ASSIGN_OR_RETURN(int changed, d_.db->Write([&](SQLite::Database& db) -> Result<int> {
      SQLite::Statement u(db, std::string("UPDATE prov_dedicated SET op_job=?, updated_at=?") +
                                  (release ? ", state='releasing'" : "") +
                                  " WHERE public_id=? AND organization_id=? AND op_job=?");
      u.bind(1, job.id);
      u.bind(2, now);
      u.bind(3, id);
      u.bind(4, org);
      u.bind(5, row.s.operation_id);
      return u.exec();
    }));
    if (changed != 1) {
      (void)d_.jobs->Cancel(job.id);
      return Fail(ErrorCode::kConflict, "another operation started on server " + id);
    }
    return Operation{job.id, id};
  }

  void Step(core::JobContext& ctx, const char* name, int done, int total) {
    ctx.Progress(Json{{"step", name}, {"done", done}, {"total", total}});
  }

  Result<Row> LoadForJob(core::JobContext& ctx) {
    HP_ASSIGN_OR_RETURN(std::string id, core::GetString(ctx.job().payload, "server_id"));
    auto r = Load(ctx.job().organization_id, id);
    if (!r && r.error().code == ErrorCode::kNotFound)
      return Fail(ErrorCode::kUnavailable, "server " + id + " is not recorded yet");
    return r;
  }

  Result<Json> HandleAllocate(core::JobContext& ctx) {
    const core::Job& job = ctx.job();
    HP_ASSIGN_OR_RETURN(Row row, LoadForJob(ctx));
    if (row.s.state != DedicatedState::kAllocating)
      return Json{{"server_id", row.s.id}, {"state", DedicatedStateName(row.s.state)}};
    Status st = AllocateSteps(ctx, row);
    if (st) return Json{{"server_id", row.s.id}, {"state", "active"}, {"host", row.s.host_name}};
    if (job.attempts < job.max_attempts && !IsPermanent(st.error().code)) return Fail(st.error());
    // Out of attempts: failed with the reason; the owner releases it (which cleans up).
    HP_TRY(Set(row.s.id, "state='failed', last_error=:e",
               [&](SQLite::Statement& u) { u.bind(":e", st.error().detail); },
               ServiceEvent(row.s, "service.failed", st.error().detail)));
    return Fail(st.error());
  }

  Status AllocateSteps(core::JobContext& ctx, Row& row) {
    DedicatedServer& s = row.s;
    constexpr int kSteps = 4;
    Step(ctx, "place", 1, kSteps);
    PlacementRequest pr;
    pr.consumer_id = s.id;
    pr.organization_id = s.organization_id;
    pr.kind = HostKind::kDedicated;
    pr.zone = row.zone;
    auto claim = d_.placer->Place(pr);
    if (!claim) {
      // No free dedicated host is not worth retrying for minutes: say why at once.
      if (claim.error().code == ErrorCode::kUnavailable)
        return Fail(ErrorCode::kInvalidArgument, claim.error().detail);
      return Fail(claim.error());
    }
    HP_TRY(Set(s.id, "host_public_id=:h", [&](SQLite::Statement& u) { u.bind(":h", claim->host_id); }));
    s.host_id = claim->host_id;
    s.host_name = claim->host_name;
    HP_ASSIGN_OR_RETURN(Host host, d_.inventory->GetHost(claim->host_id));
    HP_ASSIGN_OR_RETURN(Template t, d_.inventory->GetTemplateByName(row.template_name));
    HP_ASSIGN_OR_RETURN(std::shared_ptr<Hypervisor> hv, d_.hypervisors->Get(host.spec.uri));
    const Resources whole = host.Effective();

    Step(ctx, "disk", 2, kSteps);
    HP_ASSIGN_OR_RETURN(std::optional<DomainInfo> dom, hv->LookupDomain(s.domain_name));
    if (!dom) {
      const std::string& pool = host.spec.storage_pool;
      HP_ASSIGN_OR_RETURN(std::optional<VolumeInfo> disk, hv->LookupVolume(pool, DiskName(s.id)));
      if (!disk) {
        HP_ASSIGN_OR_RETURN(std::optional<VolumeInfo> base, hv->LookupVolume(t.spec.pool, t.spec.volume));
        if (!base)
          return Fail(ErrorCode::kNotFound, "template volume " + t.spec.pool + "/" + t.spec.volume +
                                                " is missing on host " + host.spec.name);
        HP_ASSIGN_OR_RETURN(VolumeInfo made,
                            hv->CreateVolume({.pool = pool, .name = DiskName(s.id),
                                              .capacity_bytes = whole.disk_gib << 30,
                                              .format = "qcow2", .backing_path = base->path,
                                              .backing_format = t.spec.format}));
        disk = made;
      }
      Step(ctx, "define", 3, kSteps);
      DomainSpec ds;
      ds.name = s.domain_name;
      ds.domain_type = opt_.domain_type;
      ds.vcpus = static_cast<int>(whole.vcpus);
      ds.memory_mib = whole.ram_mib;
      ds.description = "hostplane dedicated " + s.id + " org " + s.organization_id;
      ds.disks.push_back({.path = disk->path, .format = "qcow2", .target = "vda"});
      ds.nics.push_back({.bridge = host.spec.bridge});
      ds.kernel = t.spec.kernel;
      ds.initrd = t.spec.initrd;
      ds.cmdline = t.spec.cmdline;
      auto defined = hv->DefineDomain(ds);
      if (!defined && defined.error().code != ErrorCode::kAlreadyExists) return Fail(defined.error());
      HP_ASSIGN_OR_RETURN(dom, hv->LookupDomain(s.domain_name));
      if (!dom) return Fail(ErrorCode::kUnavailable, "domain " + s.domain_name + " vanished after define");
    }
    Step(ctx, "power-on", 4, kSteps);
    if (dom->state != DomainState::kRunning) HP_TRY(hv->StartDomain(s.domain_name));
    return Set(s.id, "state='active', powered_on=1, last_error=''", [](SQLite::Statement&) {},
               ServiceEvent(s, "service.provisioned"));
  }

  Result<std::shared_ptr<Hypervisor>> HostOf(const Row& row) {
    HP_ASSIGN_OR_RETURN(Host host, d_.inventory->GetHost(row.s.host_id));
    return d_.hypervisors->Get(host.spec.uri);
  }

  Result<Json> HandlePower(core::JobContext& ctx) {
    HP_ASSIGN_OR_RETURN(Row row, LoadForJob(ctx));
    if (row.s.operation_id != ctx.job().id || row.s.state != DedicatedState::kActive)
      return Json{{"server_id", row.s.id}, {"skipped", true}};
    const std::string action = ctx.job().payload.value("action", "");
    Step(ctx, action.c_str(), 1, 1);
    HP_ASSIGN_OR_RETURN(std::shared_ptr<Hypervisor> hv, HostOf(row));
    HP_ASSIGN_OR_RETURN(std::optional<DomainInfo> dom, hv->LookupDomain(row.s.domain_name));
    if (!dom) return Fail(ErrorCode::kNotFound, "server domain " + row.s.domain_name + " is missing");
    const bool running = dom->state == DomainState::kRunning;
    // Each action looks first, so a retry after a crash does not act twice (reset: at least once).
    if (action == "off") {
      if (running) {
        auto s = hv->DestroyDomain(row.s.domain_name);
        if (!s && s.error().code != ErrorCode::kConflict) return Fail(s.error());
      }
    } else if (action == "on" || !running) {
      if (!running) HP_TRY(hv->StartDomain(row.s.domain_name));
    } else if (action == "reset") {
      if (!ProgressDone(ctx)) HP_TRY(hv->ResetDomain(row.s.domain_name));
    } else {
      return Fail(ErrorCode::kInvalidArgument, "unknown power action " + action);
    }
    ctx.Progress(Json{{"step", action}, {"done", 1}, {"total", 1}, {"acted", true}});
    const bool on = action != "off";
    HP_TRY(Set(row.s.id, "powered_on=:p", [&](SQLite::Statement& u) { u.bind(":p", on ? 1 : 0); }));
    return Json{{"server_id", row.s.id}, {"action", action}, {"powered_on", on}};
  }

  static bool ProgressDone(core::JobContext& ctx) {
    const Json& p = ctx.job().progress;
    return p.is_object() && p.value("acted", false);
  }

  Result<Json> HandleRelease(core::JobContext& ctx) {
    HP_ASSIGN_OR_RETURN(Row row, LoadForJob(ctx));
    if (row.s.state == DedicatedState::kReleased) return Json{{"server_id", row.s.id}, {"state", "released"}};
    HP_ASSIGN_OR_RETURN(std::optional<Claim> claim, d_.placer->FindClaim(row.s.id));
    if (claim) {
      HP_ASSIGN_OR_RETURN(Host host, d_.inventory->GetHost(claim->host_id));
      HP_ASSIGN_OR_RETURN(std::shared_ptr<Hypervisor> hv, d_.hypervisors->Get(host.spec.uri));
      Step(ctx, "power-off", 1, 4);
      HP_ASSIGN_OR_RETURN(std::optional<DomainInfo> dom, hv->LookupDomain(row.s.domain_name));
      if (dom && dom->state != DomainState::kShutoff) {
        auto s = hv->DestroyDomain(row.s.domain_name);
        if (!s && s.error().code != ErrorCode::kConflict && s.error().code != ErrorCode::kNotFound)
          return Fail(s.error());
      }
      // The next customer must never read this one's data: zeros first, then delete.
      Step(ctx, "wipe", 2, 4);
      const std::string& pool = host.spec.storage_pool;
      HP_ASSIGN_OR_RETURN(std::optional<VolumeInfo> disk, hv->LookupVolume(pool, DiskName(row.s.id)));
      if (disk) {
        HP_TRY(hv->WipeVolume(pool, DiskName(row.s.id)));
        auto d = hv->DeleteVolume(pool, DiskName(row.s.id));
        if (!d && d.error().code != ErrorCode::kNotFound) return Fail(d.error());
      }
      Step(ctx, "undefine", 3, 4);
      if (dom) {
        auto u = hv->UndefineDomain(row.s.domain_name);
        if (!u && u.error().code != ErrorCode::kNotFound) return Fail(u.error());
      }
    }
    Step(ctx, "return-host", 4, 4);
    HP_TRY(d_.placer->Release(row.s.id));  // last: the claim is how a retry finds the host
    HP_TRY(Set(row.s.id, "state='released', powered_on=0", [](SQLite::Statement&) {}));
    return Json{{"server_id", row.s.id}, {"state", "released"}};
  }

  DedicatedServiceDeps d_;
  DedicatedOptions opt_;
};

}  // namespace

Result<std::unique_ptr<DedicatedService>> DedicatedService::Create(const DedicatedServiceDeps& d,
                                                                   DedicatedOptions o) {
  if (!d.db || !d.clock || !d.jobs || !d.ids || !d.hypervisors || !d.inventory || !d.placer)
    return Fail(ErrorCode::kInvalidArgument, "DedicatedService needs every dependency");
  if (o.domain_type != "qemu" && o.domain_type != "kvm")
    return FailField(ErrorCode::kInvalidArgument, "provisioning.domain_type", "qemu or kvm");
  if (o.max_attempts < 1)
    return FailField(ErrorCode::kInvalidArgument, "provisioning.dedicated.max_attempts", ">= 1");
  return std::unique_ptr<DedicatedService>(new Service(d, std::move(o)));
}

}  // namespace hp::provisioning
