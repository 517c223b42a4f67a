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

#include <chrono>
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
// Lifecycle operations: at most one runs per VPS at a time (another call answers kConflict
// naming the operation in progress). Each is a durable job whose steps look first, so a retry
// after a failed libvirt call or a crash finishes the work without doing it twice.
inline constexpr const char* kVpsStartJob = "provisioning.vps.start";
inline constexpr const char* kVpsStopJob = "provisioning.vps.stop";
inline constexpr const char* kVpsRebootJob = "provisioning.vps.reboot";
inline constexpr const char* kVpsResizeJob = "provisioning.vps.resize";
inline constexpr const char* kVpsSnapshotJob = "provisioning.vps.snapshot";
inline constexpr const char* kVpsRevertJob = "provisioning.vps.revert";
inline constexpr const char* kVpsDeleteSnapshotJob = "provisioning.vps.delete_snapshot";
inline constexpr const char* kVpsRebuildJob = "provisioning.vps.rebuild";

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
  std::string operation_id;  // the latest lifecycle operation (job id), empty if none yet
  core::TimePoint created_at;
  core::TimePoint updated_at;
};

// An accepted asynchronous operation: the job to poll (GET /api/v1/operations/{id}) and the
// resource it works on.
struct Operation {
  std::string id;           // job public id
  std::string resource_id;  // VPS public id
};

struct StopOptions {
  bool force = false;                  // pull the plug at once
  std::chrono::seconds timeout{0};     // graceful wait before forcing; 0: VpsOptions::stop_timeout
};

struct RebuildRequest {
  std::string template_name;
  std::string ssh_authorized_key;  // empty: keep the current key
};

struct VpsSnapshot {
  std::string name;
  std::string state;  // "creating", "ready", "deleting", "failed"
  core::TimePoint created_at;
};

struct VpsOptions {
  std::string domain_type = "qemu";   // "kvm" on hosts with working hardware virtualisation
  std::string ptr_zone;               // non-empty: PTR "<hostname>." is used as-is; kept for dns/
  std::string console_log_dir;        // non-empty: serial console logged to <dir>/<domain>.log
  int create_max_attempts = 5;
  int delete_max_attempts = 10;
  int lifecycle_max_attempts = 10;
  // Graceful stop: an ACPI power-button press, then destroy once `stop_timeout` has passed on the
  // injected clock. One attempt waits up to `stop_wait` (real time) for the guest to power off,
  // then the job is retried with backoff (0: never wait in-process, e.g. with a fake clock).
  std::chrono::seconds stop_timeout{60};
  std::chrono::milliseconds stop_wait{10000};
  int max_snapshots = 5;
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

  // Lifecycle (kConflict when the VPS is not in a state that allows it or another operation
  // runs; kNotFound for another organization's VPS).
  virtual core::Result<Operation> StartVps(const std::string& organization_id,
                                           const std::string& vps_id) = 0;
  // Graceful (ACPI) with a timeout after which the domain is destroyed; the job result says
  // {"graceful": true|false}.
  virtual core::Result<Operation> StopVps(const std::string& organization_id,
                                          const std::string& vps_id, StopOptions options = {}) = 0;
  virtual core::Result<Operation> RebootVps(const std::string& organization_id,
                                            const std::string& vps_id) = 0;
  // Offline resize: the claim grows first (a full host fails the operation with the VPS
  // untouched), then graceful stop, new vCPU/RAM, disk grown (never shrunk), started again if
  // it was running.
  virtual core::Result<Operation> ResizeVps(const std::string& organization_id,
                                            const std::string& vps_id, const VpsPlan& plan) = 0;
  // Snapshots (names: lower-case letters, digits, '-'; at most VpsOptions::max_snapshots).
  virtual core::Result<Operation> SnapshotVps(const std::string& organization_id,
                                              const std::string& vps_id,
                                              const std::string& name) = 0;
  // The VPS returns to the snapshot, including its power state then.
  virtual core::Result<Operation> RevertVps(const std::string& organization_id,
                                            const std::string& vps_id, const std::string& name) = 0;
  virtual core::Result<Operation> DeleteSnapshot(const std::string& organization_id,
                                                 const std::string& vps_id,
                                                 const std::string& name) = 0;
  virtual core::Result<std::vector<VpsSnapshot>> ListSnapshots(const std::string& organization_id,
                                                               const std::string& vps_id) = 0;
  // Reinstalls from a template: the disk and snapshots are discarded, addresses and placement
  // are kept, the VPS ends running.
  virtual core::Result<Operation> RebuildVps(const std::string& organization_id,
                                             const std::string& vps_id,
                                             const RebuildRequest& request) = 0;

  // Registers every job handler above and starts following libvirt
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
