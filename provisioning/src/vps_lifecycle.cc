// VPS lifecycle operations (start, stop, reboot, resize, snapshots, rebuild) as durable jobs.
// One operation per VPS at a time: prov_vps.op_job names it, and a handler whose job is no longer
// the VPS's operation does nothing. Every step looks at libvirt first, so a retry finishes the
// work; facts a later attempt needs (when the ACPI press was sent, that the old disk is gone)
// travel in the job's progress.
#include <thread>

#include "vps_service.h"

namespace hp::provisioning::vps_internal {

namespace {

bool Active(core::JobState s) { return s == core::JobState::kQueued || s == core::JobState::kRunning; }

// The job's progress as an object (it is null before the first report).
const Json& ProgressOf(const core::Job& job) {
  static const Json kEmpty = Json::object();
  return job.progress.is_object() ? job.progress : kEmpty;
}

Status ValidateSnapshotName(const std::string& name) {
  static const std::regex kName("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$");
  if (!std::regex_match(name, kName))
    return FailField(ErrorCode::kInvalidArgument, "name",
                     "snapshot names are 1-63 lower-case letters, digits and '-'");
  return core::Ok();
}

Status ValidatePlan(const VpsPlan& p) {
  CreateVpsRequest r;
  r.organization_id = "x";
  r.hostname = "x";
  r.zone = "x";
  r.plan = p;
  return ValidateRequest(r);
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// API side

Result<Operation> Service::BeginOperation(const std::string& org, const std::string& id,
                                          const char* kind, Json payload,
                                          std::initializer_list<VpsState> allowed) {
  HP_ASSIGN_OR_RETURN(Row row, Load(org, id));
  if (row.vps.state == VpsState::kDeleted) return Fail(ErrorCode::kNotFound, "VPS " + id + " not found");
  bool ok = false;
  for (VpsState s : allowed) ok = ok || s == row.vps.state;
  if (!ok)
    return Fail(ErrorCode::kConflict, "VPS " + id + " is " + std::string(VpsStateName(row.vps.state)));
  if (!row.op_job.empty()) {
    auto prev = d_.jobs->Get(row.op_job);
    if (prev && Active(prev->state))
      return Fail(ErrorCode::kConflict, "operation " + row.op_job + " (" + prev->kind +
                                            ") is still in progress on VPS " + id);
  }
  payload["vps_id"] = id;
  core::EnqueueOptions eo;
  eo.organization_id = org;
  eo.max_attempts = opt_.lifecycle_max_attempts;
  HP_ASSIGN_OR_RETURN(core::Job job, d_.jobs->Enqueue(kind, payload, eo));
  // Claim the VPS for this operation unless another call did so since we looked.
  const int64_t now = core::ToUnixMicros(d_.clock->Now());
  HP_ASSIGN_OR_RETURN(int changed, d_.db->Write([&](SQLite::Database& db) -> Result<int> {
    SQLite::Statement u(db, "UPDATE prov_vps SET op_job=?, updated_at=? WHERE public_id=? AND"
                            " organization_id=? AND op_job=?");
    u.bind(1, job.id);
    u.bind(2, now);
    u.bind(3, id);
    u.bind(4, org);
    u.bind(5, row.op_job);
    return u.exec();
  }));
  if (changed != 1) {
    (void)d_.jobs->Cancel(job.id);  // and its handler ignores it: it is not the VPS's operation
    return Fail(ErrorCode::kConflict, "another operation started on VPS " + id);
  }
  return Operation{job.id, id};
}

Result<Operation> Service::StartVps(const std::string& org, const std::string& id) {
  return BeginOperation(org, id, kVpsStartJob, Json::object(), {VpsState::kStopped});
}

Result<Operation> Service::StopVps(const std::string& org, const std::string& id, StopOptions o) {
  if (o.timeout.count() < 0 || o.timeout > std::chrono::hours(1))
    return FailField(ErrorCode::kInvalidArgument, "timeout", "0-3600 seconds");
  const auto timeout = o.timeout.count() > 0 ? o.timeout : opt_.stop_timeout;
  return BeginOperation(org, id, kVpsStopJob,
                        Json{{"force", o.force}, {"timeout_s", timeout.count()}},
                        {VpsState::kRunning, VpsState::kStopped});
}

Result<Operation> Service::RebootVps(const std::string& org, const std::string& id) {
  return BeginOperation(org, id, kVpsRebootJob, Json::object(), {VpsState::kRunning});
}

Result<Operation> Service::ResizeVps(const std::string& org, const std::string& id,
                                     const VpsPlan& plan) {
  HP_TRY(ValidatePlan(plan));
  HP_ASSIGN_OR_RETURN(Row row, Load(org, id));
  if (plan.disk_gib < row.vps.plan.disk_gib)
    return FailField(ErrorCode::kInvalidArgument, "plan.disk_gib",
                     "disks only grow (now " + std::to_string(row.vps.plan.disk_gib) + " GiB)");
  return BeginOperation(org, id, kVpsResizeJob,
                        Json{{"vcpus", plan.vcpus}, {"ram_mib", plan.ram_mib},
                             {"disk_gib", plan.disk_gib},
                             {"restart", row.vps.state == VpsState::kRunning}},
                        {VpsState::kRunning, VpsState::kStopped});
}

Result<Operation> Service::SnapshotVps(const std::string& org, const std::string& id,
                                       const std::string& name) {
  HP_TRY(ValidateSnapshotName(name));
  HP_ASSIGN_OR_RETURN(Row row, Load(org, id));
  if (row.vps.state != VpsState::kRunning && row.vps.state != VpsState::kStopped)
    return Fail(ErrorCode::kConflict, "VPS " + id + " is " + std::string(VpsStateName(row.vps.state)));
  const int64_t now = core::ToUnixMicros(d_.clock->Now());
  HP_TRY(d_.db->Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement c(db, "SELECT count(*), sum(name=?) FROM prov_vps_snapshots WHERE vps_id=?"
                            " AND organization_id=? AND state!='failed'");
    c.bind(1, name);
    c.bind(2, id);
    c.bind(3, org);
    c.executeStep();
    if (c.getColumn(1).getInt() > 0)
      return FailField(ErrorCode::kAlreadyExists, "name", "snapshot " + name + " exists");
    if (c.getColumn(0).getInt() >= opt_.max_snapshots)
      return Fail(ErrorCode::kConflict, "at most " + std::to_string(opt_.max_snapshots) +
                                            " snapshots per VPS; delete one first");
    c.reset();
    SQLite::Statement ins(db, "INSERT INTO prov_vps_snapshots(vps_id, organization_id, name, state,"
                              " created_at) VALUES (?,?,?,'creating',?) ON CONFLICT(vps_id, name)"
                              " DO UPDATE SET state='creating', created_at=excluded.created_at");
    ins.bind(1, id);
    ins.bind(2, org);
    ins.bind(3, name);
    ins.bind(4, now);
    ins.exec();
    return core::Ok();
  }));
  auto op = BeginOperation(org, id, kVpsSnapshotJob, Json{{"name", name}},
                           {VpsState::kRunning, VpsState::kStopped});
  if (!op) (void)SetSnapshotState(id, name, "failed");
  return op;
}

Result<Operation> Service::RevertVps(const std::string& org, const std::string& id,
                                     const std::string& name) {
  HP_ASSIGN_OR_RETURN(std::vector<VpsSnapshot> snaps, ListSnapshots(org, id));
  bool ready = false;
  for (const VpsSnapshot& s : snaps) ready = ready || (s.name == name && s.state == "ready");
  if (!ready) return FailField(ErrorCode::kNotFound, "name", "no ready snapshot " + name);
  return BeginOperation(org, id, kVpsRevertJob, Json{{"name", name}},
                        {VpsState::kRunning, VpsState::kStopped});
}

Result<Operation> Service::DeleteSnapshot(const std::string& org, const std::string& id,
                                          const std::string& name) {
  HP_ASSIGN_OR_RETURN(std::vector<VpsSnapshot> snaps, ListSnapshots(org, id));
  bool found = false;
  for (const VpsSnapshot& s : snaps) found = found || s.name == name;
  if (!found) return FailField(ErrorCode::kNotFound, "name", "no snapshot " + name);
  HP_ASSIGN_OR_RETURN(Operation op, BeginOperation(org, id, kVpsDeleteSnapshotJob, Json{{"name", name}},
                                                   {VpsState::kRunning, VpsState::kStopped}));
  HP_TRY(SetSnapshotState(id, name, "deleting"));
  return op;
}

Result<std::vector<VpsSnapshot>> Service::ListSnapshots(const std::string& org,
                                                        const std::string& id) {
  HP_ASSIGN_OR_RETURN(Row row, Load(org, id));
  if (row.vps.state == VpsState::kDeleted) return Fail(ErrorCode::kNotFound, "VPS " + id + " not found");
  return d_.db->Read([&](SQLite::Database& db) -> Result<std::vector<VpsSnapshot>> {
    SQLite::Statement q(db, "SELECT name, state, created_at FROM prov_vps_snapshots WHERE vps_id=?"
                            " AND organization_id=? ORDER BY created_at, id");
    q.bind(1, id);
    q.bind(2, org);
    std::vector<VpsSnapshot> out;
    while (q.executeStep())
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     core::FromUnixMicros(q.getColumn(2).getInt64())});
    return out;
  });
}

Result<Operation> Service::RebuildVps(const std::string& org, const std::string& id,
                                      const RebuildRequest& r) {
  HP_ASSIGN_OR_RETURN(Row row, Load(org, id));
  CreateVpsRequest check;
  check.organization_id = org;
  check.hostname = row.vps.hostname;
  check.zone = row.vps.zone;
  check.plan = row.vps.plan;
  check.ssh_authorized_key = r.ssh_authorized_key;
  HP_TRY(ValidateRequest(check));
  HP_ASSIGN_OR_RETURN(Template t, d_.inventory->GetTemplateByName(r.template_name));
  if (row.vps.plan.disk_gib < t.spec.min_disk_gib)
    return FailField(ErrorCode::kInvalidArgument, "template_name",
                     "template " + t.spec.name + " needs at least " +
                         std::to_string(t.spec.min_disk_gib) + " GiB");
  return BeginOperation(org, id, kVpsRebuildJob,
                        Json{{"template", r.template_name}, {"ssh_key", r.ssh_authorized_key}},
                        {VpsState::kRunning, VpsState::kStopped});
}

Status Service::SetSnapshotState(const std::string& vps_id, const std::string& name,
                                 const std::string& state) {
  return d_.db->Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement u(db, state.empty()
                                ? "DELETE FROM prov_vps_snapshots WHERE vps_id=?1 AND name=?2"
                                : "UPDATE prov_vps_snapshots SET state=?3 WHERE vps_id=?1 AND name=?2");
    u.bind(1, vps_id);
    u.bind(2, name);
    if (!state.empty()) u.bind(3, state);
    u.exec();
    return core::Ok();
  });
}

// ------------------------------------------------------------------------------------------------
// Job side

void Service::RegisterLifecycleHandlers(core::WorkerPool& workers) {
  auto reg = [&](const char* kind, Result<Json> (Service::*fn)(core::JobContext&, Row&, Hypervisor&),
                 bool snapshot_row = false) {
    workers.Register(kind, [this, fn, snapshot_row](core::JobContext& c) {
      std::function<void(const core::Error&)> on_fail;
      if (snapshot_row) {
        on_fail = [this, &c](const core::Error&) {
          const std::string vps = c.job().payload.value("vps_id", "");
          const std::string name = c.job().payload.value("name", "");
          (void)SetSnapshotState(vps, name, "failed");
        };
      }
      return RunOperation(
          c, [this, fn](core::JobContext& ctx, Row& row, Hypervisor& hv) { return (this->*fn)(ctx, row, hv); },
          on_fail);
    });
  };
  reg(kVpsStartJob, &Service::HandleStart);
  reg(kVpsStopJob, &Service::HandleStop);
  reg(kVpsRebootJob, &Service::HandleReboot);
  reg(kVpsResizeJob, &Service::HandleResize);
  reg(kVpsSnapshotJob, &Service::HandleSnapshot, true);
  reg(kVpsRevertJob, &Service::HandleRevert);
  reg(kVpsDeleteSnapshotJob, &Service::HandleDeleteSnapshot);
  reg(kVpsRebuildJob, &Service::HandleRebuild);
}

Result<Json> Service::RunOperation(core::JobContext& ctx, const OpBody& body,
                                   const std::function<void(const core::Error&)>& on_final_failure) {
  const core::Job& job = ctx.job();
  HP_ASSIGN_OR_RETURN(std::string id, core::GetString(job.payload, "vps_id"));
  HP_ASSIGN_OR_RETURN(Row row, Load(job.organization_id, id));
  if (row.op_job != job.id) return Json{{"vps_id", id}, {"skipped", "superseded"}};
  if (row.vps.state != VpsState::kRunning && row.vps.state != VpsState::kStopped)
    return Json{{"vps_id", id}, {"skipped", VpsStateName(row.vps.state)}};
  auto run = [&]() -> Result<Json> {
    HP_ASSIGN_OR_RETURN(std::shared_ptr<Hypervisor> hv, d_.hypervisors->Get(row.host_uri));
    return body(ctx, row, *hv);
  };
  Result<Json> r = run();
  if (!r && on_final_failure &&
      (job.attempts >= job.max_attempts || IsPermanent(r.error().code)))
    on_final_failure(r.error());
  return r;
}

Status Service::PowerOff(core::JobContext& ctx, Hypervisor& hv, const Row& row, bool force,
                         std::chrono::seconds timeout, Json carry, bool* graceful) {
  const std::string& name = row.vps.domain_name;
  *graceful = true;
  HP_ASSIGN_OR_RETURN(std::optional<DomainInfo> dom, hv.LookupDomain(name));
  if (!dom) return Fail(ErrorCode::kNotFound, "domain " + name + " is missing on its host");
  if (dom->state == DomainState::kShutoff) return core::Ok();
  auto destroy = [&]() -> Status {
    *graceful = false;
    auto s = hv.DestroyDomain(name);
    if (!s && s.error().code != ErrorCode::kConflict) return s;  // kConflict: it just went off
    return core::Ok();
  };
  if (force) return destroy();
  const int64_t timeout_us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  // The first attempt records when the button was pressed; the timeout runs from then.
  const int64_t now = core::ToUnixMicros(d_.clock->Now());
  int64_t requested = ProgressOf(ctx.job()).value("shutdown_requested_at", int64_t{0});
  if (requested == 0) {
    requested = now;
    carry["shutdown_requested_at"] = requested;
    Step(ctx, "shutdown", 1, 2, carry);
  }
  if (now >= requested + timeout_us) return destroy();
  // Pressed again on every attempt: a guest that was still booting may have missed it.
  auto s = hv.ShutdownDomain(name);
  if (!s && s.error().code != ErrorCode::kConflict) return s;
  const auto until = std::chrono::steady_clock::now() + opt_.stop_wait;
  for (;;) {
    HP_ASSIGN_OR_RETURN(dom, hv.LookupDomain(name));
    if (!dom || dom->state == DomainState::kShutoff) return core::Ok();
    if (std::chrono::steady_clock::now() >= until || ctx.Stopping()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // bounded poll of the guest
  }
  if (core::ToUnixMicros(d_.clock->Now()) >= requested + timeout_us)
    return destroy();
  return Fail(ErrorCode::kUnavailable, "guest " + name + " has not powered off yet (ACPI shutdown "
                                       "sent; forced off after " + std::to_string(timeout.count()) + " s)");
}

Status Service::PowerOn(Hypervisor& hv, const Row& row) {
  HP_ASSIGN_OR_RETURN(std::optional<DomainInfo> dom, hv.LookupDomain(row.vps.domain_name));
  if (!dom) return Fail(ErrorCode::kNotFound, "domain " + row.vps.domain_name + " is missing on its host");
  if (dom->state == DomainState::kRunning) return core::Ok();
  auto s = hv.StartDomain(row.vps.domain_name);
  if (!s && s.error().code == ErrorCode::kConflict) {  // started meanwhile?
    HP_ASSIGN_OR_RETURN(dom, hv.LookupDomain(row.vps.domain_name));
    if (dom && dom->state == DomainState::kRunning) return core::Ok();
  }
  return s;
}

Result<Json> Service::HandleStart(core::JobContext& ctx, Row& row, Hypervisor& hv) {
  Step(ctx, "start", 1, 1);
  HP_TRY(PowerOn(hv, row));
  HP_TRY(SetState(row.vps.id, VpsState::kRunning, ""));
  return Json{{"vps_id", row.vps.id}, {"state", "running"}};
}

Result<Json> Service::HandleStop(core::JobContext& ctx, Row& row, Hypervisor& hv) {
  const Json& p = ctx.job().payload;
  bool graceful = true;
  HP_TRY(PowerOff(ctx, hv, row, p.value("force", false),
                  std::chrono::seconds(p.value("timeout_s", int64_t{60})), Json::object(), &graceful));
  Step(ctx, "finish", 2, 2);
  HP_TRY(SetState(row.vps.id, VpsState::kStopped, ""));
  return Json{{"vps_id", row.vps.id}, {"state", "stopped"}, {"graceful", graceful}};
}

Result<Json> Service::HandleReboot(core::JobContext& ctx, Row& row, Hypervisor& hv) {
  if (!ProgressOf(ctx.job()).value("rebooted", false)) {
    HP_ASSIGN_OR_RETURN(std::optional<DomainInfo> dom, hv.LookupDomain(row.vps.domain_name));
    if (!dom) return Fail(ErrorCode::kNotFound, "domain " + row.vps.domain_name + " is missing");
    if (dom->state == DomainState::kRunning) {
      HP_TRY(hv.RebootDomain(row.vps.domain_name));
    } else {
      HP_TRY(PowerOn(hv, row));
    }
    Step(ctx, "reboot", 1, 1, Json{{"rebooted", true}});
  }
  HP_TRY(SetState(row.vps.id, VpsState::kRunning, ""));
  return Json{{"vps_id", row.vps.id}, {"state", "running"}};
}

Result<Json> Service::HandleResize(core::JobContext& ctx, Row& row, Hypervisor& hv) {
  const Json& p = ctx.job().payload;
  const VpsPlan to{p.value("vcpus", 1), p.value("ram_mib", int64_t{0}), p.value("disk_gib", int64_t{0})};
  const bool restart = p.value("restart", false);
  constexpr int kSteps = 5;
  // 1. Room on the host first: a full host fails the operation before the guest is touched.
  Step(ctx, "claim", 1, kSteps);
  auto claimed = d_.placer->Resize(row.vps.id, {to.vcpus, to.ram_mib, to.disk_gib});
  if (!claimed) {
    if (claimed.error().code == ErrorCode::kUnavailable)
      return FailField(ErrorCode::kInvalidArgument, "plan", claimed.error().detail + "; VPS unchanged");
    return Fail(claimed.error());
  }
  // 2. Offline: a graceful stop (the claim already holds the new size; a retry keeps it).
  Json carry = Json::object();
  carry["shutdown_requested_at"] = ProgressOf(ctx.job()).value("shutdown_requested_at", int64_t{0});
  bool graceful = true;
  Step(ctx, "stop", 2, kSteps, carry);
  HP_TRY(PowerOff(ctx, hv, row, false, opt_.stop_timeout, carry, &graceful));
  // 3. New vCPU/RAM in the definition, disk grown.
  Step(ctx, "resize", 3, kSteps);
  HP_TRY(hv.SetDomainSize(row.vps.domain_name, to.vcpus, to.ram_mib));
  HP_ASSIGN_OR_RETURN(Host host, d_.inventory->GetHost(row.vps.host_id));
  HP_TRY(hv.ResizeVolume(host.spec.storage_pool, DiskName(row.vps.id), to.disk_gib << 30));
  HP_TRY(Update(row.vps.id, "vcpus=:v, ram_mib=:r, disk_gib=:d", [&](SQLite::Statement& u) {
    u.bind(":v", to.vcpus);
    u.bind(":r", to.ram_mib);
    u.bind(":d", to.disk_gib);
  }));
  // 4. Back to the power state the customer had.
  Step(ctx, "start", 4, kSteps);
  if (restart) HP_TRY(PowerOn(hv, row));
  Step(ctx, "finish", 5, kSteps);
  const VpsState final_state = restart ? VpsState::kRunning : VpsState::kStopped;
  HP_TRY(SetState(row.vps.id, final_state, ""));
  return Json{{"vps_id", row.vps.id}, {"state", VpsStateName(final_state)},
              {"vcpus", to.vcpus}, {"ram_mib", to.ram_mib}, {"disk_gib", to.disk_gib},
              {"graceful", graceful}};
}

Result<Json> Service::HandleSnapshot(core::JobContext& ctx, Row& row, Hypervisor& hv) {
  const std::string name = ctx.job().payload.value("name", "");
  Step(ctx, "snapshot", 1, 1);
  HP_ASSIGN_OR_RETURN(std::vector<SnapshotInfo> have, hv.ListSnapshots(row.vps.domain_name));
  bool exists = false;
  for (const SnapshotInfo& s : have) exists = exists || s.name == name;
  if (!exists) {
    auto made = hv.CreateSnapshot(row.vps.domain_name, name);
    if (!made && made.error().code != ErrorCode::kAlreadyExists) return Fail(made.error());
  }
  HP_TRY(SetSnapshotState(row.vps.id, name, "ready"));
  return Json{{"vps_id", row.vps.id}, {"snapshot", name}, {"state", "ready"}};
}

Result<Json> Service::HandleRevert(core::JobContext& ctx, Row& row, Hypervisor& hv) {
  const std::string name = ctx.job().payload.value("name", "");
  Step(ctx, "revert", 1, 1);
  HP_TRY(hv.RevertSnapshot(row.vps.domain_name, name));
  HP_ASSIGN_OR_RETURN(std::optional<DomainInfo> dom, hv.LookupDomain(row.vps.domain_name));
  const VpsState s = dom && dom->state == DomainState::kRunning ? VpsState::kRunning : VpsState::kStopped;
  HP_TRY(SetState(row.vps.id, s, ""));
  return Json{{"vps_id", row.vps.id}, {"snapshot", name}, {"state", VpsStateName(s)}};
}

Result<Json> Service::HandleDeleteSnapshot(core::JobContext& ctx, Row& row, Hypervisor& hv) {
  const std::string name = ctx.job().payload.value("name", "");
  Step(ctx, "delete", 1, 1);
  auto s = hv.DeleteSnapshot(row.vps.domain_name, name);
  if (!s && s.error().code != ErrorCode::kNotFound) return Fail(s.error());
  HP_TRY(SetSnapshotState(row.vps.id, name, ""));
  return Json{{"vps_id", row.vps.id}, {"snapshot", name}, {"state", "deleted"}};
}

Result<Json> Service::HandleRebuild(core::JobContext& ctx, Row& row, Hypervisor& hv) {
  const core::Job& job = ctx.job();
  Vps& v = row.vps;
  constexpr int kSteps = 5;
  const Json carry{{"torn_down", true}};
  if (!ProgressOf(job).value("torn_down", false)) {
    // 1. The old system goes: domain (with its snapshot metadata), disk and seed.
    Step(ctx, "teardown", 1, kSteps);
    HP_ASSIGN_OR_RETURN(Host host, d_.inventory->GetHost(v.host_id));
    HP_ASSIGN_OR_RETURN(std::optional<DomainInfo> dom, hv.LookupDomain(v.domain_name));
    if (dom) {
      if (dom->state != DomainState::kShutoff) {
        auto s = hv.DestroyDomain(v.domain_name);
        if (!s && s.error().code != ErrorCode::kNotFound && s.error().code != ErrorCode::kConflict)
          return Fail(s.error());
      }
      auto u = hv.UndefineDomain(v.domain_name);
      if (!u && u.error().code != ErrorCode::kNotFound) return Fail(u.error());
    }
    for (const std::string& vol : {DiskName(v.id), SeedName(v.id)}) {
      auto s = hv.DeleteVolume(host.spec.storage_pool, vol);
      if (!s && s.error().code != ErrorCode::kNotFound) return Fail(s.error());
    }
    HP_TRY(d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement d(db, "DELETE FROM prov_vps_snapshots WHERE vps_id=?");
      d.bind(1, v.id);
      d.exec();
      return core::Ok();
    }));
    const std::string key = job.payload.value("ssh_key", "");
    HP_TRY(Update(v.id, "template=:t, ssh_key=CASE WHEN :k='' THEN ssh_key ELSE :k END",
                  [&](SQLite::Statement& u) {
                    u.bind(":t", job.payload.value("template", v.template_name));
                    u.bind(":k", key);
                  }));
    Step(ctx, "teardown", 1, kSteps, carry);
  }
  // 2-4. The new system, exactly as create builds it (same addresses; a new instance id so
  // cloud-init runs again).
  HP_ASSIGN_OR_RETURN(Row fresh, Load(job.organization_id, v.id));
  HP_ASSIGN_OR_RETURN(IpAssignment v4, d_.ips->Allocate(v.zone, 4, v.organization_id, v.id));
  std::optional<IpAssignment> v6;
  HP_ASSIGN_OR_RETURN(std::vector<IpAssignment> all, d_.ips->ListByConsumer(v.id));
  for (const IpAssignment& a : all)
    if (a.family == 6) v6 = a;
  HP_TRY(EnsureDomain(ctx, fresh, fresh.host_uri, fresh.vps.host_id, v4, v6,
                      v.id + "-" + job.id.substr(0, 8), 2, kSteps, carry));
  Step(ctx, "finish", 5, kSteps, carry);
  HP_TRY(SetState(v.id, VpsState::kRunning, ""));
  return Json{{"vps_id", v.id}, {"state", "running"}, {"template", fresh.vps.template_name}};
}

}  // namespace hp::provisioning::vps_internal
