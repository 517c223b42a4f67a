#pragma once
// The inventory: hosts with their capacity, image templates and IP pools, kept in the store.
// Capacity is our own accounting (allocations recorded by placement), never read back from the
// hypervisor: libvirt's test driver reports fake numbers and real hosts report free memory that
// already includes overcommit decisions we made.
//
// Effective capacity of a resource = (total - reserved) * ratio.
// Host ids are random public ids; integer row ids never leave the process.
//
// Thread safety: safe to use from any thread (all state is in the Database).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/random.h"
#include "hp/core/store.h"

namespace hp::provisioning {

// The provisioning module's schema (inventory, allocations, IPs, VPS, sites).
const core::MigrationSet& ProvisioningMigrations();

enum class HostKind { kSharedWeb, kVps, kDedicated };
enum class HostState { kActive, kDraining, kMaintenance };
std::string_view HostKindName(HostKind k);      // "shared-web", "vps", "dedicated"
std::string_view HostStateName(HostState s);    // "active", "draining", "maintenance"
core::Result<HostKind> ParseHostKind(std::string_view s);
core::Result<HostState> ParseHostState(std::string_view s);

struct Resources {
  int64_t vcpus = 0;
  int64_t ram_mib = 0;
  int64_t disk_gib = 0;
};

struct HostSpec {
  std::string name;  // operator-facing, unique
  std::string uri;   // libvirt URI, unique ("test:///path/host.xml", "qemu+ssh://h/system")
  std::string zone;
  HostKind kind = HostKind::kVps;
  Resources capacity;
  Resources reserved;  // kept for the host itself
  double cpu_ratio = 4.0;
  double ram_ratio = 1.0;
  double disk_ratio = 1.0;
  std::string storage_pool = "default";  // libvirt pool for guest volumes
  std::string bridge;                    // host bridge for guest NICs; empty: user networking
  // For shared-web hosts: where the web server and site files live on that host.
  std::string web_root;
};

struct Host {
  std::string id;  // public id
  HostSpec spec;
  HostState state = HostState::kActive;
  Resources used;       // sum of allocations
  int64_t allocations = 0;
  std::string dedicated_organization_id;  // non-empty while a dedicated host is allocated
  core::TimePoint created_at;

  Resources Effective() const;  // (capacity - reserved) * ratio, rounded down
};

struct TemplateSpec {
  std::string name;    // "debian-12", unique
  std::string pool;    // libvirt pool that holds the base image on every host
  std::string volume;  // base image volume name in that pool
  std::string format = "qcow2";
  int64_t min_disk_gib = 1;
  // Optional direct kernel boot (tiny test images): host paths.
  std::string kernel;
  std::string initrd;
  std::string cmdline;
};
struct Template {
  std::string id;
  TemplateSpec spec;
};

struct IpPoolSpec {
  std::string name;  // unique
  std::string zone;
  int family = 4;      // 4 or 6
  std::string first;   // first assignable address
  std::string last;    // last assignable address (inclusive)
  int prefix_length = 24;
  std::string gateway;
};
struct IpPool {
  std::string id;
  IpPoolSpec spec;
  int64_t size = 0;  // addresses in [first, last]
  int64_t used = 0;
};

class Inventory {
 public:
  Inventory(core::Database& db, const core::Clock& clock, core::IdSource& ids);

  // Hosts. AddHost validates every field (kInvalidArgument naming it) and rejects duplicate
  // names/URIs (kAlreadyExists).
  core::Result<Host> AddHost(const HostSpec& spec);
  core::Result<Host> GetHost(const std::string& id);
  core::Result<Host> GetHostByName(const std::string& name);
  core::Result<std::vector<Host>> ListHosts();
  // active <-> draining <-> maintenance. Draining hosts keep their guests but take no new ones.
  core::Status SetHostState(const std::string& id, HostState state);
  // Only a host with no allocations can be removed (kConflict saying how many remain).
  core::Status RemoveHost(const std::string& id);

  core::Result<Template> AddTemplate(const TemplateSpec& spec);
  core::Result<Template> GetTemplateByName(const std::string& name);
  core::Result<std::vector<Template>> ListTemplates();

  core::Result<IpPool> AddIpPool(const IpPoolSpec& spec);
  core::Result<std::vector<IpPool>> ListIpPools();

 private:
  core::Database& db_;
  const core::Clock& clock_;
  core::IdSource& ids_;
};

}  // namespace hp::provisioning
