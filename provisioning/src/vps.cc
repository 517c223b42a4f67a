// VPS create/delete as durable idempotent jobs. Every step first looks at what exists (by the
// deterministic names), then does only what is missing.
#include "hp/provisioning/vps.h"

#include "vps_service.h"

namespace hp::provisioning {

using core::ErrorCode;
using core::Fail;
using core::FailField;
using core::Json;
using core::Result;
using core::Status;

std::string_view VpsStateName(VpsState s) {
  switch (s) {
    case VpsState::kProvisioning: return "provisioning";
    case VpsState::kRunning: return "running";
    case VpsState::kStopped: return "stopped";
    case VpsState::kDeleting: return "deleting";
    case VpsState::kDeleted: return "deleted";
    case VpsState::kFailed: return "failed";
  }
  return "failed";
}

namespace vps_internal {

Result<ReconcileReport> Service::Reconcile() {
  ReconcileReport rep;
  HP_ASSIGN_OR_RETURN(std::vector<Host> hosts, d_.inventory->ListHosts());
  for (const Host& h : hosts) {
    if (h.spec.kind != HostKind::kVps) continue;
    // What the store says lives on this host (by claim).
    std::map<std::string, Row> expected;
    HP_TRY(d_.db->Read([&](SQLite::Database& db) -> Status {
      SQLite::Statement q(db, std::string("SELECT ") + kVpsCols +
                                  " WHERE public_id IN (SELECT consumer_id FROM prov_allocations a"
                                  " JOIN prov_hosts h ON h.id=a.host_id WHERE h.public_id=?)");
      q.bind(1, h.id);
      while (q.executeStep()) {
        Row r = RowOf(q);
        expected.emplace(r.vps.id, std::move(r));
      }
      return core::Ok();
    }));
    HP_ASSIGN_OR_RETURN(std::shared_ptr<Hypervisor> hv, d_.hypervisors->Get(h.spec.uri));
    HP_ASSIGN_OR_RETURN(std::vector<DomainInfo> domains, hv->ListDomains());
    std::set<std::string> seen;
    for (const DomainInfo& d : domains) {
      if (!d.name.starts_with("hp-")) continue;
      const std::string id = d.name.substr(3);
      auto it = expected.find(id);
      if (it == expected.end()) {
        rep.unknown_domains.push_back(h.spec.name + "/" + d.name);
        continue;
      }
      seen.insert(id);
      const VpsPlan& p = it->second.vps.plan;
      if (d.vcpus != p.vcpus || d.memory_mib != p.ram_mib)
        rep.size_mismatches.push_back(h.spec.name + "/" + d.name);
    }
    for (const auto& [id, r] : expected) {
      const VpsState s = r.vps.state;
      if ((s == VpsState::kRunning || s == VpsState::kStopped) && !seen.contains(id))
        rep.missing_domains.push_back(h.spec.name + "/hp-" + id);
    }
    HP_ASSIGN_OR_RETURN(std::vector<VolumeInfo> vols, hv->ListVolumes(h.spec.storage_pool));
    for (const VolumeInfo& vol : vols) {
      if (!vol.name.starts_with("hp-")) continue;
      const std::string id = vol.name.substr(3, vol.name.find("-", 3 + 22) - 3);
      if (!expected.contains(id)) rep.unknown_volumes.push_back(h.spec.name + "/" + vol.name);
    }
  }
  return rep;
}

}  // namespace vps_internal

Result<std::unique_ptr<VpsService>> VpsService::Create(const VpsServiceDeps& d, VpsOptions o) {
  if (!d.db || !d.clock || !d.jobs || !d.ids || !d.hypervisors || !d.inventory || !d.placer ||
      !d.ips || !d.reverse_dns)
    return Fail(ErrorCode::kInvalidArgument, "VpsService needs every dependency");
  if (o.domain_type != "qemu" && o.domain_type != "kvm")
    return FailField(ErrorCode::kInvalidArgument, "provisioning.domain_type", "qemu or kvm");
  if (o.create_max_attempts < 1 || o.delete_max_attempts < 1)
    return FailField(ErrorCode::kInvalidArgument, "provisioning.max_attempts", "must be >= 1");
  return std::unique_ptr<VpsService>(new vps_internal::Service(d, std::move(o)));
}

}  // namespace hp::provisioning
