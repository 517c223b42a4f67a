#pragma once
// VPS lifecycle: the service layer behind /api/v1/vps (routes stay thin: parse, authorize, call,
// answer 202 with the operation). Every state change is a durable job on core::JobQueue whose
// steps are idempotent and keyed by deterministic names ("hp-<vps id>" for the domain,
// "hp-<vps id>-disk.qcow2" and "hp-<vps id>-seed.iso" for volumes), so a crash or a failed
// libvirt call at any step resumes without leaking a domain, a volume, an address or a claim.
// A create whose last attempt fails (or fails permanently) rolls back everything it made and
// leaves the VPS in state "failed" with the reason.
//
// Every read and write is scoped by organization id: another organization's VPS is kNotFound.
// Thread safety: safe from any thread.

#include <memory>
#include <string>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/jobs.h"
#include "hp/core/random.h"
#include "hp/core/store.h"
#include "hp/provisioning/hypervisor.h"
#include "hp/provisioning/inventory.h"
#include "hp/provisioning/ipam.h"
#include "hp/provisioning/placement.h"

namespace hp::provisioning {

inline constexpr const char* kVpsCreateJob = "provisioning.vps.create";
inline constexpr const char* kVpsDeleteJob = "provisioning.vps.delete";

enum class VpsState { kProvisioning, kRunning, kStopped, kDeleting, kDeleted, kFailed };
std::string_view VpsStateName(VpsState s);

struct VpsPlan {
  int vcpus = 1;
  int64_t ram_mib = 1024;
  int64_t disk_gib = 20;
};

struct CreateVpsRequest {
  std::string organization_id;
  std::string hostname;       // RFC 1123 label(s), becomes the guest hostname and the PTR
  std::string template_name;  // Inventory template
  std::string zone;
  VpsPlan plan;
  std::string ssh_authorized_key;   // "ssh-ed25519 AAAA... comment"
  std::string anti_affinity_group;  // optional
  std::string idempotency_key;      // optional: a retried API call returns the same operation
};

struct Vps {
  std::string id;
  std::string organization_id;
  std::string hostname;
  VpsState state = VpsState::kProvisioning;
  VpsPlan plan;
  std::string template_name;
  std::string zone;
  std::string host_id;      // empty until placed
  std::string domain_name;  // "hp-<id>"
  std::string ipv4;
  std::string ipv6;
  std::string last_error;   // why the VPS is failed, for the customer
  core::TimePoint created_at;
  core::TimePoint updated_at;
};

// An accepted asynchronous operation: the job to poll (GET /api/v1/operations/{id}) and the
// resource it works on.
struct Operation {
  std::string id;           // job public id
  std::string resource_id;  // VPS public id
};

struct VpsOptions {
  std::string domain_type = "qemu";   // "kvm" on hosts with working hardware virtualisation
  std::string ptr_zone;               // non-empty: PTR "<hostname>." is used as-is; kept for dns/
  std::string console_log_dir;        // non-empty: serial console logged to <dir>/<domain>.log
  int create_max_attempts = 5;
  int delete_max_attempts = 10;
};

struct VpsServiceDeps {
  core::Database* db = nullptr;
  const core::Clock* clock = nullptr;
  core::JobQueue* jobs = nullptr;
  core::IdSource* ids = nullptr;
  Hypervisors* hypervisors = nullptr;
  Inventory* inventory = nullptr;
  Placer* placer = nullptr;
  IpAllocator* ips = nullptr;
  ReverseDns* reverse_dns = nullptr;
};

// Differences between the inventory and the hypervisors (ideally all empty).
struct ReconcileReport {
  std::vector<std::string> missing_domains;   // VPS we think exist, domain absent ("host/name")
  std::vector<std::string> unknown_domains;   // "hp-" domains libvirt has and we do not
  std::vector<std::string> unknown_volumes;   // "hp-" volumes libvirt has and we do not
  std::vector<std::string> size_mismatches;   // domain vCPU/RAM differ from the plan
  bool clean() const {
    return missing_domains.empty() && unknown_domains.empty() && unknown_volumes.empty() &&
           size_mismatches.empty();
  }
};

class VpsService {
 public:
  static core::Result<std::unique_ptr<VpsService>> Create(const VpsServiceDeps& deps,
                                                          VpsOptions options = {});
  virtual ~VpsService() = default;

  // Validates (kInvalidArgument naming the field; kNotFound for an unknown template), records
  // the VPS in state provisioning and enqueues its create job.
  virtual core::Result<Operation> CreateVps(const CreateVpsRequest& request) = 0;
  // Enqueues deletion (domain, volumes, addresses, PTRs and the claim are released).
  virtual core::Result<Operation> DeleteVps(const std::string& organization_id,
                                            const std::string& vps_id) = 0;
  virtual core::Result<Vps> Get(const std::string& organization_id, const std::string& vps_id) = 0;
  virtual core::Result<std::vector<Vps>> List(const std::string& organization_id) = 0;

  // Registers the job handlers (kVpsCreateJob, kVpsDeleteJob) and starts following libvirt
  // lifecycle events (running/stopped) of placed VPS.
  virtual void RegisterHandlers(core::WorkerPool& workers) = 0;
  // Compares the store with every host's domains and volumes; changes nothing.
  virtual core::Result<ReconcileReport> Reconcile() = 0;
};

// The NoCloud seed (ISO 9660, volume id "cidata") carrying meta-data, user-data (hostname, SSH
// key) and network-config (static addresses). Exposed for tests and the real-VM smoke test.
struct SeedNetwork {
  std::string mac;
  std::string ipv4;  // "192.0.2.10/24"
  std::string gateway4;
  std::string ipv6;  // "2001:db8::10/64"
  std::string gateway6;
};
std::string BuildNoCloudSeed(const std::string& instance_id, const std::string& hostname,
                             const std::string& ssh_authorized_key, const SeedNetwork& network);

}  // namespace hp::provisioning
