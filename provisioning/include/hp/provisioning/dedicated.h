#pragma once
// Dedicated servers: a whole host of kind `dedicated` for one organization. Placement claims the
// host exclusively (a dedicated host holds at most one claim); the server is one libvirt domain
// on that host sized to the whole host (the "machine" the customer powers on, off and resets
// through libvirt). Release destroys it, wipes its disk (zeros), deletes it and returns the host
// to the pool. Allocate/power/release are durable idempotent jobs like the VPS ones.
//
// Every read and write is scoped by organization id. Thread safety: safe from any thread.

#include <memory>
#include <string>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/jobs.h"
#include "hp/core/random.h"
#include "hp/core/store.h"
#include "hp/provisioning/hypervisor.h"
#include "hp/provisioning/inventory.h"
#include "hp/provisioning/placement.h"
#include "hp/provisioning/vps.h"

namespace hp::provisioning {

inline constexpr const char* kDedicatedAllocateJob = "provisioning.dedicated.allocate";
inline constexpr const char* kDedicatedPowerJob = "provisioning.dedicated.power";
inline constexpr const char* kDedicatedReleaseJob = "provisioning.dedicated.release";

enum class DedicatedState { kAllocating, kActive, kReleasing, kReleased, kFailed };
std::string_view DedicatedStateName(DedicatedState s);
enum class PowerAction { kOn, kOff, kReset };

struct AllocateDedicatedRequest {
  std::string organization_id;
  std::string hostname;
  std::string zone;
  std::string template_name;    // installed on the server's disk
  std::string idempotency_key;  // optional
};

struct DedicatedServer {
  std::string id;
  std::string organization_id;
  std::string hostname;
  DedicatedState state = DedicatedState::kAllocating;
  std::string host_id;       // empty until placed
  std::string host_name;
  std::string domain_name;   // "hp-<id>"
  bool powered_on = false;
  std::string last_error;
  std::string operation_id;  // latest allocate/power/release job
  core::TimePoint created_at;
};

struct DedicatedOptions {
  std::string domain_type = "qemu";
  int max_attempts = 10;
};

struct DedicatedServiceDeps {
  core::Database* db = nullptr;
  const core::Clock* clock = nullptr;
  core::JobQueue* jobs = nullptr;
  core::IdSource* ids = nullptr;
  Hypervisors* hypervisors = nullptr;
  Inventory* inventory = nullptr;
  Placer* placer = nullptr;
};

class DedicatedService {
 public:
  static core::Result<std::unique_ptr<DedicatedService>> Create(const DedicatedServiceDeps& deps,
                                                                DedicatedOptions options = {});
  virtual ~DedicatedService() = default;

  // Records the server (allocating) and enqueues: claim a free dedicated host in the zone, disk
  // from the template, domain with the host's whole effective vCPU/RAM, power on. No free host:
  // the server is failed with the placement explanation ("2 hosts: 2 dedicated to another
  // organization").
  virtual core::Result<Operation> Allocate(const AllocateDedicatedRequest& request) = 0;
  // kConflict unless active and no other operation runs.
  virtual core::Result<Operation> Power(const std::string& organization_id, const std::string& id,
                                        PowerAction action) = 0;
  // Destroy, wipe the disk with zeros, delete it, undefine, return the host to the pool.
  virtual core::Result<Operation> Release(const std::string& organization_id,
                                          const std::string& id) = 0;
  virtual core::Result<DedicatedServer> Get(const std::string& organization_id,
                                            const std::string& id) = 0;
  virtual core::Result<std::vector<DedicatedServer>> List(const std::string& organization_id) = 0;
  virtual void RegisterHandlers(core::WorkerPool& workers) = 0;
};

}  // namespace hp::provisioning
