#pragma once
// Private: the VpsService implementation shared by the handler files (vps.cc: create, delete,
// reads, reconcile; vps_lifecycle.cc: start, stop, reboot, resize, snapshots, rebuild).
#include <functional>
#include <map>
#include <regex>
#include <set>

#include "hp/core/events.h"
#include "hp/core/json.h"
#include "hp/core/log.h"
#include "hp/provisioning/vps.h"

namespace hp::provisioning::vps_internal {

using core::ErrorCode;
using core::Fail;
using core::FailField;
using core::Json;
using core::Result;
using core::Status;

inline VpsState ParseVpsState(const std::string& s) {
  for (VpsState v : {VpsState::kProvisioning, VpsState::kRunning, VpsState::kStopped,
                     VpsState::kDeleting, VpsState::kDeleted, VpsState::kFailed})
    if (VpsStateName(v) == s) return v;
  return VpsState::kFailed;
}

inline std::string DiskName(const std::string& id) { return "hp-" + id + "-disk.qcow2"; }
inline std::string SeedName(const std::string& id) { return "hp-" + id + "-seed.iso"; }

// A stable locally administered MAC from the VPS id (FNV-1a).
inline std::string MacFor(const std::string& id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  char buf[32];
  std::snprintf(buf, sizeof buf, "52:54:00:%02x:%02x:%02x", static_cast<unsigned>(h & 0xff),
                static_cast<unsigned>((h >> 8) & 0xff), static_cast<unsigned>((h >> 16) & 0xff));
  return buf;
}

inline bool IsPermanent(ErrorCode c) {
  return c == ErrorCode::kInvalidArgument || c == ErrorCode::kNotFound ||
         c == ErrorCode::kPermissionDenied || c == ErrorCode::kAlreadyExists;
}

struct Row {
  Vps vps;
  std::string group;
  std::string ssh_key;
  std::string host_uri;
  std::string create_job;
  std::string op_job;
};

inline constexpr const char* kVpsCols =
    "public_id, organization_id, hostname, state, vcpus, ram_mib, disk_gib, template, zone,"
    " anti_affinity_group, ssh_key, host_public_id, host_uri, domain_name, ipv4, ipv6, create_job,"
    " last_error, created_at, updated_at, op_job FROM prov_vps";

inline Row RowOf(SQLite::Statement& q) {
  Row r;
  Vps& v = r.vps;
  int i = 0;
  v.id = q.getColumn(i++).getString();
  v.organization_id = q.getColumn(i++).getString();
  v.hostname = q.getColumn(i++).getString();
  v.state = ParseVpsState(q.getColumn(i++).getString());
  v.plan.vcpus = q.getColumn(i++).getInt();
  v.plan.ram_mib = q.getColumn(i++).getInt64();
  v.plan.disk_gib = q.getColumn(i++).getInt64();
  v.template_name = q.getColumn(i++).getString();
  v.zone = q.getColumn(i++).getString();
  r.group = q.getColumn(i++).getString();
  r.ssh_key = q.getColumn(i++).getString();
  v.host_id = q.getColumn(i++).getString();
  r.host_uri = q.getColumn(i++).getString();
  v.domain_name = q.getColumn(i++).getString();
  v.ipv4 = q.getColumn(i++).getString();
  v.ipv6 = q.getColumn(i++).getString();
  r.create_job = q.getColumn(i++).getString();
  v.last_error = q.getColumn(i++).getString();
  v.created_at = core::FromUnixMicros(q.getColumn(i++).getInt64());
  v.updated_at = core::FromUnixMicros(q.getColumn(i++).getInt64());
  r.op_job = q.getColumn(i++).getString();
  v.operation_id = r.op_job;
  return r;
}

inline Status ValidateRequest(const CreateVpsRequest& r) {
  static const std::regex kHost(
      "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$");
  if (r.organization_id.empty())
    return FailField(ErrorCode::kInvalidArgument, "organization_id", "organization is empty");
  if (r.hostname.size() > 253 || !std::regex_match(r.hostname, kHost))
    return FailField(ErrorCode::kInvalidArgument, "hostname",
                     "hostname must be lower-case DNS labels (a-z, 0-9, -)");
  if (r.zone.empty()) return FailField(ErrorCode::kInvalidArgument, "zone", "zone is required");
  if (r.plan.vcpus < 1 || r.plan.vcpus > 256)
    return FailField(ErrorCode::kInvalidArgument, "plan.vcpus", "vCPUs must be 1-256");
  if (r.plan.ram_mib < 128 || r.plan.ram_mib > (int64_t{4} << 20))
    return FailField(ErrorCode::kInvalidArgument, "plan.ram_mib", "RAM must be 128 MiB - 4 TiB");
  if (r.plan.disk_gib < 1 || r.plan.disk_gib > (int64_t{64} << 10))
    return FailField(ErrorCode::kInvalidArgument, "plan.disk_gib", "disk must be 1 GiB - 64 TiB");
  if (!r.ssh_authorized_key.empty()) {
    static const std::regex kKey("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9-]+@openssh\\.com) [A-Za-z0-9+/=]+( [^\\r\\n]*)?$");
    if (r.ssh_authorized_key.size() > 16384 || !std::regex_match(r.ssh_authorized_key, kKey))
      return FailField(ErrorCode::kInvalidArgument, "ssh_authorized_key",
                       "one OpenSSH public key line (ssh-ed25519 AAAA... comment)");
  }
  return core::Ok();
}

class Service final : public VpsService {
 public:
  Service(const VpsServiceDeps& d, VpsOptions o) : d_(d), opt_(std::move(o)) {}
  // No lifecycle event may reach a destroyed service (SetEventListener waits for a running one).
  ~Service() override {
    if (listening_) d_.hypervisors->SetEventListener(nullptr);
  }

  Result<Operation> CreateVps(const CreateVpsRequest& r) override {
    HP_TRY(ValidateRequest(r));
    HP_ASSIGN_OR_RETURN(Template t, d_.inventory->GetTemplateByName(r.template_name));
    if (r.plan.disk_gib < t.spec.min_disk_gib)
      return FailField(ErrorCode::kInvalidArgument, "plan.disk_gib",
                       "template " + t.spec.name + " needs at least " +
                           std::to_string(t.spec.min_disk_gib) + " GiB");
    const std::string id = d_.ids->NewId();
    core::EnqueueOptions eo;
    eo.organization_id = r.organization_id;
    eo.max_attempts = opt_.create_max_attempts;
    if (!r.idempotency_key.empty()) eo.idempotency_key = r.organization_id + ":" + r.idempotency_key;
    // The job first: with an idempotency key a retried call finds the earlier job and stops.
    HP_ASSIGN_OR_RETURN(core::Job job, d_.jobs->Enqueue(kVpsCreateJob, Json{{"vps_id", id}}, eo));
    const std::string job_vps = job.payload.value("vps_id", "");
    if (job_vps != id) return Operation{job.id, job_vps};
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    HP_TRY(d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement ins(db,
          "INSERT INTO prov_vps(public_id, organization_id, hostname, state, vcpus, ram_mib,"
          " disk_gib, template, zone, anti_affinity_group, ssh_key, domain_name, create_job,"
          " created_at, updated_at) VALUES (?,?,?,'provisioning',?,?,?,?,?,?,?,?,?,?,?)");
      int i = 1;
      ins.bind(i++, id);
      ins.bind(i++, r.organization_id);
      ins.bind(i++, r.hostname);
      ins.bind(i++, r.plan.vcpus);
      ins.bind(i++, r.plan.ram_mib);
      ins.bind(i++, r.plan.disk_gib);
      ins.bind(i++, r.template_name);
      ins.bind(i++, r.zone);
      ins.bind(i++, r.anti_affinity_group);
      ins.bind(i++, r.ssh_authorized_key);
      ins.bind(i++, "hp-" + id);
      ins.bind(i++, job.id);
      ins.bind(i++, now);
      ins.bind(i++, now);
      ins.exec();
      return core::Ok();
    }));
    return Operation{job.id, id};
  }

  Result<Operation> DeleteVps(const std::string& org, const std::string& id) override {
    HP_ASSIGN_OR_RETURN(Row row, Load(org, id));
    if (row.vps.state == VpsState::kDeleted)
      return Fail(ErrorCode::kNotFound, "VPS " + id + " not found");
    core::EnqueueOptions eo;
    eo.organization_id = org;
    eo.max_attempts = opt_.delete_max_attempts;
    eo.idempotency_key = "delete:" + id;
    HP_ASSIGN_OR_RETURN(core::Job job, d_.jobs->Enqueue(kVpsDeleteJob, Json{{"vps_id", id}}, eo));
    // Conditional: the delete job may already have finished (deleted stays deleted).
    HP_TRY(Update(id, "state=CASE WHEN state='deleted' THEN state ELSE 'deleting' END, last_error=''",
                  [](SQLite::Statement&) {}));
    return Operation{job.id, id};
  }

  Result<Vps> Get(const std::string& org, const std::string& id) override {
    HP_ASSIGN_OR_RETURN(Row r, Load(org, id));
    if (r.vps.state == VpsState::kDeleted) return Fail(ErrorCode::kNotFound, "VPS " + id + " not found");
    return r.vps;
  }

  Result<std::vector<Vps>> List(const std::string& org) override {
    return d_.db->Read([&](SQLite::Database& db) -> Result<std::vector<Vps>> {
      SQLite::Statement q(db, std::string("SELECT ") + kVpsCols +
                                  " WHERE organization_id=? AND state!='deleted' ORDER BY created_at, id");
      q.bind(1, org);
      std::vector<Vps> out;
      while (q.executeStep()) out.push_back(RowOf(q).vps);
      return out;
    });
  }

  void RegisterHandlers(core::WorkerPool& workers) override {
    workers.Register(kVpsCreateJob, [this](core::JobContext& c) { return HandleCreate(c); });
    workers.Register(kVpsDeleteJob, [this](core::JobContext& c) { return HandleDelete(c); });
    RegisterLifecycleHandlers(workers);
    d_.hypervisors->SetEventListener([this](const DomainEvent& e) { OnEvent(e); });
    listening_ = true;
  }

  Result<ReconcileReport> Reconcile() override;

  // Lifecycle (vps_lifecycle.cc).
  Result<Operation> StartVps(const std::string& org, const std::string& id) override;
  Result<Operation> StopVps(const std::string& org, const std::string& id, StopOptions o) override;
  Result<Operation> RebootVps(const std::string& org, const std::string& id) override;
  Result<Operation> ResizeVps(const std::string& org, const std::string& id,
                              const VpsPlan& plan) override;
  Result<Operation> SnapshotVps(const std::string& org, const std::string& id,
                                const std::string& name) override;
  Result<Operation> RevertVps(const std::string& org, const std::string& id,
                              const std::string& name) override;
  Result<Operation> DeleteSnapshot(const std::string& org, const std::string& id,
                                   const std::string& name) override;
  Result<std::vector<VpsSnapshot>> ListSnapshots(const std::string& org,
                                                 const std::string& id) override;
  Result<Operation> RebuildVps(const std::string& org, const std::string& id,
                               const RebuildRequest& request) override;

 private:
  Result<Row> Load(const std::string& org, const std::string& id) {
    return d_.db->Read([&](SQLite::Database& db) -> Result<Row> {
      SQLite::Statement q(db, std::string("SELECT ") + kVpsCols + " WHERE public_id=? AND organization_id=?");
      q.bind(1, id);
      q.bind(2, org);
      if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "VPS " + id + " not found");
      return RowOf(q);
    });
  }

  Status Update(const std::string& id, const std::string& set_sql,
                const std::function<void(SQLite::Statement&)>& bind) {
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    return d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement u(db, "UPDATE prov_vps SET " + set_sql + ", updated_at=:now WHERE public_id=:id");
      bind(u);
      u.bind(":now", now);
      u.bind(":id", id);
      u.exec();
      return core::Ok();
    });
  }

  Status SetState(const std::string& id, VpsState s, const std::string& error) {
    return Update(id, "state=:state, last_error=:err", [&](SQLite::Statement& u) {
      u.bind(":state", std::string(VpsStateName(s)));
      u.bind(":err", error);
    });
  }

  // `carry` holds facts later attempts need (e.g. "shutdown_requested_at"); kept in every update.
  void Step(core::JobContext& ctx, const char* name, int done, int total,
            const Json& carry = Json::object()) {
    Json p = carry.is_object() ? carry : Json::object();
    p["step"] = name;
    p["done"] = done;
    p["total"] = total;
    ctx.Progress(p);
  }

  // Waits (by failing retryably) while the VPS's create job may still be touching resources.
  // Also waits for the VPS's latest lifecycle operation.
  Status CreateJobSettled(const Row& row, const std::string& self_job) {
    for (const std::string& other : {row.create_job, row.op_job}) {
      if (other.empty() || other == self_job) continue;
      auto job = d_.jobs->Get(other);
      if (!job) continue;
      if (job->state == core::JobState::kQueued || job->state == core::JobState::kRunning)
        return Fail(ErrorCode::kUnavailable, "waiting for job " + other + " to stop");
    }
    return core::Ok();
  }

  Result<Json> HandleCreate(core::JobContext& ctx) {
    const core::Job& job = ctx.job();
    HP_ASSIGN_OR_RETURN(std::string id, core::GetString(job.payload, "vps_id"));
    auto loaded = Load(job.organization_id, id);
    if (!loaded) {
      // Enqueued but the row is not written yet (or the API call crashed in between).
      if (loaded.error().code == ErrorCode::kNotFound)
        return Fail(ErrorCode::kUnavailable, "VPS " + id + " is not recorded yet");
      return Fail(loaded.error());
    }
    Row row = std::move(*loaded);
    if (row.vps.state != VpsState::kProvisioning)
      return Json{{"vps_id", id}, {"state", VpsStateName(row.vps.state)}};
    Status st = CreateSteps(ctx, row);
    if (st) return Json{{"vps_id", id}, {"state", "running"}};
    const bool last = job.attempts >= job.max_attempts || IsPermanent(st.error().code);
    if (!last) return Fail(st.error());
    // Out of attempts: the VPS is failed and a durable cleanup job takes back what was made.
    core::log::Warn("VPS create failed; rolling back", {{"vps", id}, {"error", st.error().ToString()}});
    {
      const int64_t now = core::ToUnixMicros(d_.clock->Now());
      HP_TRY(d_.db->Write([&](SQLite::Database& db) -> Status {
        SQLite::Statement u(db, "UPDATE prov_vps SET state='failed', last_error=?, updated_at=?"
                                " WHERE public_id=?");
        u.bind(1, st.error().detail);
        u.bind(2, now);
        u.bind(3, id);
        u.exec();
        return core::RecordEventInTx(*d_.jobs, db, "service.failed", row.vps.organization_id,
                                     Json{{"service", "vps"}, {"id", id}, {"hostname", row.vps.hostname},
                                          {"error", st.error().detail}},
                                     "service.failed:" + id);
      }));
    }
    core::EnqueueOptions eo;
    eo.organization_id = job.organization_id;
    eo.max_attempts = opt_.delete_max_attempts;
    eo.idempotency_key = "rollback:" + id;
    HP_TRY(d_.jobs->Enqueue(kVpsDeleteJob, Json{{"vps_id", id}, {"rollback", true}}, eo));
    return Fail(st.error());
  }

  Status CreateSteps(core::JobContext& ctx, Row& row) {
    Vps& v = row.vps;
    constexpr int kSteps = 6;
    Step(ctx, "place", 1, kSteps);
    PlacementRequest pr;
    pr.consumer_id = v.id;
    pr.organization_id = v.organization_id;
    pr.kind = HostKind::kVps;
    pr.zone = v.zone;
    pr.resources = {v.plan.vcpus, v.plan.ram_mib, v.plan.disk_gib};
    pr.anti_affinity_group = row.group;
    HP_ASSIGN_OR_RETURN(Claim claim, d_.placer->Place(pr));
    HP_TRY(Update(v.id, "host_public_id=:h, host_uri=:u", [&](SQLite::Statement& u) {
      u.bind(":h", claim.host_id);
      u.bind(":u", claim.host_uri);
    }));

    Step(ctx, "addresses", 2, kSteps);
    HP_ASSIGN_OR_RETURN(IpAssignment v4, d_.ips->Allocate(v.zone, 4, v.organization_id, v.id));
    auto v6 = d_.ips->Allocate(v.zone, 6, v.organization_id, v.id);  // optional where no v6 pool
    if (!v6 && v6.error().code != ErrorCode::kUnavailable) return Fail(v6.error());
    HP_TRY(Update(v.id, "ipv4=:a, ipv6=:b", [&](SQLite::Statement& u) {
      u.bind(":a", v4.address);
      u.bind(":b", v6 ? v6->address : std::string());
    }));
    HP_TRY(d_.reverse_dns->SetPtr(v.organization_id, v4.address, v.hostname + "."));
    if (v6) HP_TRY(d_.reverse_dns->SetPtr(v.organization_id, v6->address, v.hostname + "."));

    std::optional<IpAssignment> v6a;
    if (v6) v6a = *v6;
    HP_TRY(EnsureDomain(ctx, row, claim.host_uri, claim.host_id, v4, v6a, v.id, 3, kSteps, Json::object()));

    Step(ctx, "finish", 6, kSteps);
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    return d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement u(db, "UPDATE prov_vps SET state='running', last_error='', updated_at=?"
                              " WHERE public_id=? AND state='provisioning'");
      u.bind(1, now);
      u.bind(2, v.id);
      // The event goes out only when this transaction moves the VPS to running (outbox).
      if (u.exec() == 0) return core::Ok();
      return core::RecordEventInTx(*d_.jobs, db, "service.provisioned", v.organization_id,
                                   Json{{"service", "vps"}, {"id", v.id}, {"hostname", v.hostname}},
                                   "service.provisioned:" + v.id);
    });
  }

  // Volumes (overlay disk on the template, NoCloud seed), definition and start, each looked up
  // first. Shared by create and rebuild; steps first_step..first_step+2 of `total`.
  Status EnsureDomain(core::JobContext& ctx, Row& row, const std::string& host_uri,
                      const std::string& host_id, const IpAssignment& v4,
                      const std::optional<IpAssignment>& v6, const std::string& instance_id,
                      int first_step, int total, const Json& carry) {
    Vps& v = row.vps;
    Step(ctx, "volumes", first_step, total, carry);
    HP_ASSIGN_OR_RETURN(std::shared_ptr<Hypervisor> hv, d_.hypervisors->Get(host_uri));
    HP_ASSIGN_OR_RETURN(Host host, d_.inventory->GetHost(host_id));
    HP_ASSIGN_OR_RETURN(Template t, d_.inventory->GetTemplateByName(v.template_name));
    HP_ASSIGN_OR_RETURN(std::optional<DomainInfo> dom, hv->LookupDomain(v.domain_name));
    if (!dom) {
      const std::string& pool = host.spec.storage_pool;
      HP_ASSIGN_OR_RETURN(std::optional<VolumeInfo> disk, hv->LookupVolume(pool, DiskName(v.id)));
      if (!disk) {
        HP_ASSIGN_OR_RETURN(std::optional<VolumeInfo> base, hv->LookupVolume(t.spec.pool, t.spec.volume));
        if (!base)
          return Fail(ErrorCode::kNotFound, "template volume " + t.spec.pool + "/" + t.spec.volume +
                                                " is missing on host " + host.spec.name);
        VolumeSpec vs;
        vs.pool = pool;
        vs.name = DiskName(v.id);
        vs.capacity_bytes = v.plan.disk_gib << 30;
        vs.format = "qcow2";
        vs.backing_path = base->path;
        vs.backing_format = t.spec.format;
        HP_ASSIGN_OR_RETURN(VolumeInfo made, hv->CreateVolume(vs));
        disk = made;
      }
      SeedNetwork net;
      net.mac = MacFor(v.id);
      net.ipv4 = v4.address + "/" + std::to_string(v4.prefix_length);
      net.gateway4 = v4.gateway;
      if (v6) {
        net.ipv6 = v6->address + "/" + std::to_string(v6->prefix_length);
        net.gateway6 = v6->gateway;
      }
      const std::string seed = BuildNoCloudSeed(instance_id, v.hostname, row.ssh_key, net);
      HP_ASSIGN_OR_RETURN(std::optional<VolumeInfo> seed_vol, hv->LookupVolume(pool, SeedName(v.id)));
      if (!seed_vol) {
        VolumeSpec ss;
        ss.pool = pool;
        ss.name = SeedName(v.id);
        ss.capacity_bytes = static_cast<int64_t>(seed.size());
        ss.format = "raw";
        HP_ASSIGN_OR_RETURN(VolumeInfo made, hv->CreateVolume(ss));
        seed_vol = made;
      }
      // Always rewritten: a crash between create and upload must not leave an empty seed.
      HP_TRY(hv->UploadVolume(pool, SeedName(v.id), seed));

      Step(ctx, "define", first_step + 1, total, carry);
      DomainSpec ds;
      ds.name = v.domain_name;
      ds.domain_type = opt_.domain_type;
      ds.vcpus = v.plan.vcpus;
      ds.memory_mib = v.plan.ram_mib;
      ds.description = "hostplane vps " + v.id + " org " + v.organization_id;
      ds.disks.push_back({.path = disk->path, .format = "qcow2", .target = "vda"});
      ds.disks.push_back({.path = seed_vol->path, .format = "raw", .device = "cdrom",
                          .target = "sda", .bus = "sata", .readonly = true});
      ds.nics.push_back({.mac = net.mac, .bridge = host.spec.bridge});
      ds.kernel = t.spec.kernel;
      ds.initrd = t.spec.initrd;
      ds.cmdline = t.spec.cmdline;
      if (!opt_.console_log_dir.empty()) ds.console_log = opt_.console_log_dir + "/" + v.domain_name + ".log";
      auto defined = hv->DefineDomain(ds);
      if (!defined && defined.error().code != ErrorCode::kAlreadyExists) return Fail(defined.error());
      HP_ASSIGN_OR_RETURN(dom, hv->LookupDomain(v.domain_name));
      if (!dom) return Fail(ErrorCode::kUnavailable, "domain " + v.domain_name + " vanished after define");
    }

    Step(ctx, "start", first_step + 2, total, carry);
    if (dom->state != DomainState::kRunning) HP_TRY(hv->StartDomain(v.domain_name));
    return core::Ok();
  }

  Result<Json> HandleDelete(core::JobContext& ctx) {
    const core::Job& job = ctx.job();
    HP_ASSIGN_OR_RETURN(std::string id, core::GetString(job.payload, "vps_id"));
    const bool rollback = job.payload.value("rollback", false);
    HP_ASSIGN_OR_RETURN(Row row, Load(job.organization_id, id));
    if (row.vps.state == VpsState::kDeleted) return Json{{"vps_id", id}, {"state", "deleted"}};
    HP_TRY(CreateJobSettled(row, job.id));
    if (!rollback && row.vps.state != VpsState::kDeleting) HP_TRY(SetState(id, VpsState::kDeleting, ""));
    Step(ctx, "teardown", 1, 2);
    HP_TRY(Teardown(row));
    Step(ctx, "finish", 2, 2);
    // A rollback leaves the VPS failed, unless its owner asked for deletion meanwhile (the two
    // jobs may run side by side; whichever ends last must not resurrect the VPS).
    HP_TRY(Update(id, "state=CASE WHEN :rb AND state NOT IN ('deleting','deleted') THEN 'failed'"
                      " ELSE 'deleted' END, host_public_id='', host_uri='', ipv4='', ipv6=''",
                  [&](SQLite::Statement& u) { u.bind(":rb", rollback ? 1 : 0); }));
    HP_ASSIGN_OR_RETURN(Row final_row, Load(job.organization_id, id));
    const VpsState final_state = final_row.vps.state;
    return Json{{"vps_id", id}, {"state", VpsStateName(final_state)}};
  }

  Status Teardown(const Row& row) {
    const Vps& v = row.vps;
    HP_ASSIGN_OR_RETURN(std::optional<Claim> claim, d_.placer->FindClaim(v.id));
    if (claim) {
      HP_ASSIGN_OR_RETURN(std::shared_ptr<Hypervisor> hv, d_.hypervisors->Get(claim->host_uri));
      HP_ASSIGN_OR_RETURN(Host host, d_.inventory->GetHost(claim->host_id));
      HP_ASSIGN_OR_RETURN(std::optional<DomainInfo> dom, hv->LookupDomain(v.domain_name));
      if (dom) {
        if (dom->state != DomainState::kShutoff) {
          auto s = hv->DestroyDomain(v.domain_name);
          if (!s && s.error().code != ErrorCode::kNotFound) return s;
        }
        auto u = hv->UndefineDomain(v.domain_name);
        if (!u && u.error().code != ErrorCode::kNotFound) return u;
      }
      for (const std::string& vol : {DiskName(v.id), SeedName(v.id)}) {
        auto s = hv->DeleteVolume(host.spec.storage_pool, vol);
        if (!s && s.error().code != ErrorCode::kNotFound) return s;
      }
    }
    HP_ASSIGN_OR_RETURN(std::vector<IpAssignment> ips, d_.ips->ListByConsumer(v.id));
    for (const IpAssignment& a : ips) HP_TRY(d_.reverse_dns->RemovePtr(a.address));
    HP_TRY(d_.ips->ReleaseConsumer(v.id));
    return d_.placer->Release(v.id);  // last: the claim is how a retry finds the host
  }

  void OnEvent(const DomainEvent& e) {
    if (!e.domain.starts_with("hp-")) return;
    // 1. The row as it is now (its state_seq and operation).
    struct Seen {
      bool found = false;
      int64_t seq = 0;
      std::string op_job;
    };
    auto seen = d_.db->Read([&](SQLite::Database& db) -> Result<Seen> {
      SQLite::Statement q(db, "SELECT state_seq, op_job FROM prov_vps WHERE host_uri=? AND"
                              " domain_name=? AND state IN ('running','stopped')");
      q.bind(1, e.uri);
      q.bind(2, e.domain);
      Seen s;
      if (q.executeStep()) s = {true, q.getColumn(0).getInt64(), q.getColumn(1).getString()};
      return s;
    });
    if (!seen || !seen->found) return;
    // While an operation runs on this VPS its job writes the outcome; events would only race it.
    if (!seen->op_job.empty()) {
      auto job = d_.jobs->Get(seen->op_job);
      if (job && (job->state == core::JobState::kQueued || job->state == core::JobState::kRunning))
        return;
    }
    // 2. libvirt's state, read after step 1: a job that acted before step 1 also wrote before it.
    const DomainState now_state = e.current ? e.current() : e.state;
    const char* state = nullptr;
    if (now_state == DomainState::kRunning || now_state == DomainState::kBlocked) state = "running";
    if (now_state == DomainState::kShutoff || now_state == DomainState::kCrashed) state = "stopped";
    if (!state) return;
    // 3. Written only if no job wrote the state since step 1.
    const int64_t now = core::ToUnixMicros(d_.clock->Now());
    auto st = d_.db->Write([&](SQLite::Database& db) -> Status {
      SQLite::Statement u(db, "UPDATE prov_vps SET state=?, updated_at=? WHERE host_uri=? AND"
                              " domain_name=? AND state IN ('running','stopped') AND state_seq=?"
                              " AND state!=?");
      u.bind(1, state);
      u.bind(2, now);
      u.bind(3, e.uri);
      u.bind(4, e.domain);
      u.bind(5, seen->seq);
      u.bind(6, state);
      u.exec();
      return core::Ok();
    });
    if (!st) core::log::Warn("cannot record domain event", {{"error", st.error().ToString()}});
  }

  // Lifecycle plumbing (vps_lifecycle.cc).
  void RegisterLifecycleHandlers(core::WorkerPool& workers);
  Result<Operation> BeginOperation(const std::string& org, const std::string& id,
                                   const char* kind, Json payload,
                                   std::initializer_list<VpsState> allowed);
  using OpBody = std::function<Result<Json>(core::JobContext&, Row&, Hypervisor&)>;
  Result<Json> RunOperation(core::JobContext& ctx, const OpBody& body,
                            const std::function<void(const core::Error&)>& on_final_failure = {});
  // Ok once the domain is shut off: an ACPI press, waits, destroy after the timeout; kUnavailable
  // (retry later) while the guest still runs. *graceful tells how it ended.
  Status PowerOff(core::JobContext& ctx, Hypervisor& hv, const Row& row, bool force,
                  std::chrono::seconds timeout, Json carry, bool* graceful);
  Status PowerOn(Hypervisor& hv, const Row& row);
  Result<Json> HandleStart(core::JobContext& ctx, Row& row, Hypervisor& hv);
  Result<Json> HandleStop(core::JobContext& ctx, Row& row, Hypervisor& hv);
  Result<Json> HandleReboot(core::JobContext& ctx, Row& row, Hypervisor& hv);
  Result<Json> HandleResize(core::JobContext& ctx, Row& row, Hypervisor& hv);
  Result<Json> HandleSnapshot(core::JobContext& ctx, Row& row, Hypervisor& hv);
  Result<Json> HandleRevert(core::JobContext& ctx, Row& row, Hypervisor& hv);
  Result<Json> HandleDeleteSnapshot(core::JobContext& ctx, Row& row, Hypervisor& hv);
  Result<Json> HandleRebuild(core::JobContext& ctx, Row& row, Hypervisor& hv);
  Status SetSnapshotState(const std::string& vps_id, const std::string& name,
                          const std::string& state);

  VpsServiceDeps d_;
  VpsOptions opt_;
  bool listening_ = false;
};

}  // namespace hp::provisioning::vps_internal
