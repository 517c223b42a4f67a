#pragma once
// The Hypervisor seam: everything provisioning asks of one virtualisation host (one libvirt URI).
// Calls are synchronous and may block on the network; run them on job workers, never on an HTTP
// reactor thread. Names are the identity: a domain or volume is addressed by name, so a job that
// crashed after creating one finds it again on the next attempt instead of leaking it.
//
// Error contract for every call: kNotFound when the named domain/volume/pool does not exist,
// kAlreadyExists when creating something that exists, kUnavailable when the host cannot be
// reached (retryable), kConflict when the object is in the wrong state (e.g. start a running
// domain), kInternal for anything else. No call prints to stderr.
//
// Thread safety: implementations are safe to call from several threads at once.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hp/core/error.h"

namespace hp::provisioning {

enum class DomainState { kNoState, kRunning, kBlocked, kPaused, kShutdown, kShutoff, kCrashed,
                         kSuspended };
std::string_view DomainStateName(DomainState s);

struct DiskSpec {
  std::string path;              // host path of the volume (VolumeInfo::path)
  std::string format = "qcow2";  // "qcow2" or "raw"
  std::string device = "disk";   // "disk" or "cdrom"
  std::string target = "vda";    // guest device name: vda, vdb, sda ...
  std::string bus = "virtio";    // virtio, sata, scsi
  bool readonly = false;
};

struct NicSpec {
  std::string mac;             // "52:54:00:xx:xx:xx"
  std::string bridge;          // host bridge; empty: user-mode networking (no bridge needed)
  std::string model = "virtio";
};

struct DomainSpec {
  std::string name;            // unique per host; provisioning uses "hp-<public id>"
  std::string domain_type = "qemu";  // "kvm" where hardware virtualisation works, else "qemu" (TCG)
  int vcpus = 1;
  int64_t memory_mib = 512;
  std::vector<DiskSpec> disks;
  std::vector<NicSpec> nics;
  // Direct kernel boot (optional): when kernel is set the guest boots it with initrd/cmdline.
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  // Serial console: a pty, optionally logged to this host file (append off).
  std::string console_log;
  std::string description;     // free text stored in the domain XML (e.g. the owning org)
};

struct DomainInfo {
  std::string name;
  std::string uuid;
  DomainState state = DomainState::kNoState;
  int vcpus = 0;
  int64_t memory_mib = 0;  // maximum memory
};

struct VolumeSpec {
  std::string pool;
  std::string name;
  int64_t capacity_bytes = 0;
  std::string format = "qcow2";
  std::string backing_path;            // non-empty: a copy-on-write overlay over this file
  std::string backing_format = "qcow2";
};

struct VolumeInfo {
  std::string pool;
  std::string name;
  std::string path;
  int64_t capacity_bytes = 0;
};

struct SnapshotInfo {
  std::string name;
  bool current = false;
};

class Hypervisor {
 public:
  virtual ~Hypervisor() = default;
  virtual const std::string& uri() const = 0;

  // Domains (defined = persistent; every domain provisioning creates is persistent).
  virtual core::Result<std::vector<DomainInfo>> ListDomains() = 0;
  virtual core::Result<std::optional<DomainInfo>> LookupDomain(const std::string& name) = 0;
  virtual core::Status DefineDomain(const DomainSpec& spec) = 0;
  // Removes the definition and any snapshot metadata; the domain must be shut off.
  virtual core::Status UndefineDomain(const std::string& name) = 0;
  virtual core::Status StartDomain(const std::string& name) = 0;
  // Asks the guest to power off (ACPI); returns at once. Poll LookupDomain for kShutoff.
  virtual core::Status ShutdownDomain(const std::string& name) = 0;
  // Pulls the plug.
  virtual core::Status DestroyDomain(const std::string& name) = 0;
  virtual core::Status RebootDomain(const std::string& name) = 0;
  virtual core::Status ResetDomain(const std::string& name) = 0;
  // Offline resize: changes the persistent definition (takes effect at next start).
  virtual core::Status SetDomainSize(const std::string& name, int vcpus, int64_t memory_mib) = 0;
  virtual core::Result<std::string> DomainXml(const std::string& name) = 0;

  virtual core::Status CreateSnapshot(const std::string& domain, const std::string& snapshot) = 0;
  virtual core::Status RevertSnapshot(const std::string& domain, const std::string& snapshot) = 0;
  virtual core::Status DeleteSnapshot(const std::string& domain, const std::string& snapshot) = 0;
  virtual core::Result<std::vector<SnapshotInfo>> ListSnapshots(const std::string& domain) = 0;

  // Storage.
  virtual core::Result<std::vector<VolumeInfo>> ListVolumes(const std::string& pool) = 0;
  virtual core::Result<std::optional<VolumeInfo>> LookupVolume(const std::string& pool,
                                                               const std::string& name) = 0;
  virtual core::Result<VolumeInfo> CreateVolume(const VolumeSpec& spec) = 0;
  // Replaces the content of an existing volume with `bytes` (e.g. a cloud-init seed image).
  // libvirt's test driver cannot upload: for test:// URIs the bytes are written to the volume's
  // path on this machine instead.
  virtual core::Status UploadVolume(const std::string& pool, const std::string& name,
                                    const std::string& bytes) = 0;
  virtual core::Status DeleteVolume(const std::string& pool, const std::string& name) = 0;
  // Grows a volume to `capacity_bytes` (never shrinks: kInvalidArgument). libvirt's test driver
  // cannot resize: for test:// URIs the (dataless) volume is recreated at the new capacity.
  virtual core::Status ResizeVolume(const std::string& pool, const std::string& name,
                                    int64_t capacity_bytes) = 0;
  // Overwrites the volume's content with zeros (libvirt's wipe). The test driver cannot wipe: for
  // test:// URIs the volume's file on this machine, if any, is overwritten with zeros instead.
  virtual core::Status WipeVolume(const std::string& pool, const std::string& name) = 0;
};

// A domain changed on some host (delivered on the event loop thread; keep it short).
struct DomainEvent {
  std::string uri;
  std::string domain;
  // The domain's state when the event is delivered (read then, so a late event never carries a
  // stale state); kNoState when the domain no longer exists.
  DomainState state = DomainState::kNoState;
  // Reads the state again (valid only during the callback): a listener that must order the
  // reading after its own bookkeeping calls this instead of trusting `state`.
  std::function<DomainState()> current;
};
using DomainEventListener = std::function<void(const DomainEvent&)>;

// The set of hosts: one Hypervisor per URI, opened lazily on first use, reopened when the
// connection died. Thread-safe; returned pointers stay valid for the life of the Hypervisors.
class Hypervisors {
 public:
  virtual ~Hypervisors() = default;
  virtual core::Result<std::shared_ptr<Hypervisor>> Get(const std::string& uri) = 0;
  // Receives lifecycle events of every host opened so far and later (replaces any previous).
  virtual void SetEventListener(DomainEventListener listener) = 0;
};

struct LibvirtOptions {
  // Keepalive for remote URIs: a peer silent this long (interval * count seconds) is dead.
  int keepalive_interval_s = 5;
  int keepalive_count = 3;
};

// libvirt C API. Installs virSetErrorFunc so libvirt never prints; starts one event loop thread
// (libvirt's default implementation) that delivers lifecycle events and keepalives.
class LibvirtHypervisors {
 public:
  static core::Result<std::unique_ptr<Hypervisors>> Create(const LibvirtOptions& options = {});
};

// Fault injection for tests (and chaos drills): every Hypervisor call through a wrapped host
// counts as one call; the calls numbered in `fail_calls` (1-based, across all hosts) fail with
// kUnavailable ("injected fault") without reaching libvirt. Thread-safe.
class FaultPlan {
 public:
  virtual ~FaultPlan() = default;
  static std::shared_ptr<FaultPlan> Create();
  virtual void FailCall(int64_t n) = 0;  // add one call number to fail
  virtual void Clear() = 0;              // fail nothing from now on
  // Calls of this name (e.g. "ShutdownDomain": a guest that ignores the ACPI button) succeed
  // without reaching libvirt, until Clear().
  virtual void Ignore(std::string_view call) = 0;
  virtual bool Ignored(std::string_view call) const = 0;
  virtual int64_t calls() const = 0;     // calls made so far
  // Names of the calls made so far, in order ("DefineDomain", ...), for test messages.
  virtual std::vector<std::string> Trace() const = 0;
  // Counts one call; true when it must fail. Used by the wrapper.
  virtual bool Next(std::string_view call) = 0;
};
std::unique_ptr<Hypervisors> WithFaults(std::unique_ptr<Hypervisors> inner,
                                        std::shared_ptr<FaultPlan> plan);

}  // namespace hp::provisioning
