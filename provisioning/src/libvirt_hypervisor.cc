// LibvirtHypervisors: one virConnectPtr per URI behind the Hypervisor seam, opened lazily and
// reopened when it died; one process-wide event loop thread (libvirt's default implementation).
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "hp/core/log.h"
#include "hp/provisioning/hypervisor.h"
#include "xml.h"

namespace hp::provisioning {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;
using core::Status;

struct ConnCloser {
  void operator()(virConnectPtr c) const { virConnectClose(c); }
};
struct DomFree {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
struct PoolFree {
  void operator()(virStoragePoolPtr p) const { virStoragePoolFree(p); }
};
struct VolFree {
  void operator()(virStorageVolPtr v) const { virStorageVolFree(v); }
};
struct SnapFree {
  void operator()(virDomainSnapshotPtr s) const { virDomainSnapshotFree(s); }
};
struct StreamFree {
  void operator()(virStreamPtr s) const { virStreamFree(s); }
};
struct CharFree {
  void operator()(char* p) const { std::free(p); }
};
using Dom = std::unique_ptr<virDomain, DomFree>;
using Pool = std::unique_ptr<virStoragePool, PoolFree>;
using Vol = std::unique_ptr<virStorageVol, VolFree>;
using Snap = std::unique_ptr<virDomainSnapshot, SnapFree>;
using Stream = std::unique_ptr<virStream, StreamFree>;
using CStr = std::unique_ptr<char, CharFree>;
using Conn = std::shared_ptr<virConnect>;

void SilentErrors(void*, virErrorPtr) {}

void InitLibvirtOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, SilentErrors);
    virEventRegisterDefaultImpl();
  });
}

// Turns libvirt's thread-local last error into an Error.
core::Error LastError(std::string_view what) {
  virErrorPtr e = virGetLastError();
  std::string msg = std::string(what) + ": " + (e && e->message ? e->message : "unknown libvirt error");
  ErrorCode code = ErrorCode::kInternal;
  if (e) {
    switch (e->code) {
      case VIR_ERR_NO_DOMAIN:
      case VIR_ERR_NO_STORAGE_POOL:
      case VIR_ERR_NO_STORAGE_VOL:
      case VIR_ERR_NO_DOMAIN_SNAPSHOT:
        code = ErrorCode::kNotFound;
        break;
      case VIR_ERR_OPERATION_INVALID:
        code = ErrorCode::kConflict;
        break;
      case VIR_ERR_NO_CONNECT:
      case VIR_ERR_RPC:
      case VIR_ERR_AUTH_FAILED:
      case VIR_ERR_OPERATION_TIMEOUT:
        code = ErrorCode::kUnavailable;
        break;
      case VIR_ERR_SYSTEM_ERROR:
        if (e->domain == VIR_FROM_RPC || e->domain == VIR_FROM_REMOTE) code = ErrorCode::kUnavailable;
        break;
      default:
        break;
    }
  }
  virResetLastError();
  return core::Error(code, std::move(msg));
}

DomainState FromVirState(int s) {
  switch (s) {
    case VIR_DOMAIN_RUNNING: return DomainState::kRunning;
    case VIR_DOMAIN_BLOCKED: return DomainState::kBlocked;
    case VIR_DOMAIN_PAUSED: return DomainState::kPaused;
    case VIR_DOMAIN_SHUTDOWN: return DomainState::kShutdown;
    case VIR_DOMAIN_SHUTOFF: return DomainState::kShutoff;
    case VIR_DOMAIN_CRASHED: return DomainState::kCrashed;
    case VIR_DOMAIN_PMSUSPENDED: return DomainState::kSuspended;
    default: return DomainState::kNoState;
  }
}

Result<DomainInfo> InfoOf(virDomainPtr d) {
  DomainInfo out;
  const char* name = virDomainGetName(d);
  out.name = name ? name : "";
  char uuid[VIR_UUID_STRING_BUFLEN];
  if (virDomainGetUUIDString(d, uuid) == 0) out.uuid = uuid;
  virDomainInfo info;
  if (virDomainGetInfo(d, &info) < 0) return Fail(LastError("virDomainGetInfo " + out.name));
  out.state = FromVirState(info.state);
  out.vcpus = info.nrVirtCpu;
  out.memory_mib = static_cast<int64_t>(info.maxMem / 1024);
  return out;
}

std::string DomainXmlOf(const DomainSpec& s) {
  XmlWriter w;
  w.Open("domain", {{"type", s.domain_type}});
  w.Text("name", s.name);
  if (!s.description.empty()) w.Text("description", s.description);
  w.Text("memory", std::to_string(s.memory_mib), {{"unit", "MiB"}});
  w.Text("currentMemory", std::to_string(s.memory_mib), {{"unit", "MiB"}});
  w.Text("vcpu", std::to_string(s.vcpus));
  w.Open("os");
  w.Text("type", "hvm", {{"arch", "x86_64"}});
  if (!s.kernel.empty()) {
    w.Text("kernel", s.kernel);
    if (!s.initrd.empty()) w.Text("initrd", s.initrd);
    if (!s.cmdline.empty()) w.Text("cmdline", s.cmdline);
  } else {
    w.Empty("boot", {{"dev", "hd"}});
  }
  w.Close("os");
  w.Open("features");
  w.Empty("acpi");
  w.Close("features");
  w.Text("on_poweroff", "destroy");
  w.Text("on_reboot", "restart");
  w.Text("on_crash", "destroy");
  w.Open("devices");
  for (const DiskSpec& d : s.disks) {
    w.Open("disk", {{"type", "file"}, {"device", d.device}});
    w.Empty("driver", {{"name", "qemu"}, {"type", d.format}});
    w.Empty("source", {{"file", d.path}});
    w.Empty("target", {{"dev", d.target}, {"bus", d.bus}});
    if (d.readonly) w.Empty("readonly");
    w.Close("disk");
  }
  for (const NicSpec& n : s.nics) {
    if (n.bridge.empty()) {
      w.Open("interface", {{"type", "user"}});
    } else {
      w.Open("interface", {{"type", "bridge"}});
      w.Empty("source", {{"bridge", n.bridge}});
    }
    if (!n.mac.empty()) w.Empty("mac", {{"address", n.mac}});
    w.Empty("model", {{"type", n.model}});
    w.Close("interface");
  }
  w.Open("serial", {{"type", "pty"}});
  if (!s.console_log.empty()) w.Empty("log", {{"file", s.console_log}, {"append", "off"}});
  w.Empty("target", {{"port", "0"}});
  w.Close("serial");
  w.Open("console", {{"type", "pty"}});
  w.Empty("target", {{"type", "serial"}, {"port", "0"}});
  w.Close("console");
  w.Close("devices");
  w.Close("domain");
  return w.str();
}

std::string VolumeXmlOf(const VolumeSpec& s) {
  XmlWriter w;
  w.Open("volume");
  w.Text("name", s.name);
  w.Text("capacity", std::to_string(s.capacity_bytes), {{"unit", "bytes"}});
  w.Open("target");
  w.Empty("format", {{"type", s.format}});
  w.Close("target");
  if (!s.backing_path.empty()) {
    w.Open("backingStore");
    w.Text("path", s.backing_path);
    w.Empty("format", {{"type", s.backing_format}});
    w.Close("backingStore");
  }
  w.Close("volume");
  return w.str();
}

// ------------------------------------------------------------------------------------------------
// The process-wide event loop. libvirt allows one default implementation per process; the loop
// thread runs while at least one LibvirtHypervisors exists.

class EventLoop {
 public:
  static EventLoop& Instance() {
    static EventLoop* loop = new EventLoop();  // leaked on purpose: outlives static destructors
    return *loop;
  }
  void Acquire() {
    std::lock_guard lock(mu_);
    if (users_++ == 0) {
      stop_ = false;
      thread_ = std::thread([this] {
        while (!stop_.load()) {
          if (virEventRunDefaultImpl() < 0) virResetLastError();
        }
      });
    }
  }
  void Release() {
    std::lock_guard lock(mu_);
    if (--users_ > 0) return;
    stop_ = true;
    // A zero-delay timer wakes the loop so it sees stop_.
    int timer = virEventAddTimeout(0, [](int t, void*) { virEventRemoveTimeout(t); }, nullptr,
                                   nullptr);
    if (timer < 0) virResetLastError();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  int users_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class LibvirtHost;

struct EventSink {
  std::mutex mu;
  DomainEventListener listener;
};

class LibvirtHost final : public Hypervisor {
 public:
  LibvirtHost(std::string uri, LibvirtOptions options, std::shared_ptr<EventSink> sink)
      : uri_(std::move(uri)), options_(options), sink_(std::move(sink)) {}
  ~LibvirtHost() override {
    std::lock_guard lock(mu_);
    Deregister();
  }

  const std::string& uri() const override { return uri_; }

  Result<Conn> Connection() {
    std::lock_guard lock(mu_);
    if (conn_ && virConnectIsAlive(conn_.get()) == 1) return conn_;
    virResetLastError();
    if (conn_) {
      core::log::Warn("libvirt connection lost; reconnecting", {{"uri", uri_}});
      Deregister();
      conn_.reset();
    }
    virConnectPtr c = virConnectOpen(uri_.c_str());
    if (!c) {
      core::Error e = LastError("cannot connect to " + uri_);
      e.code = ErrorCode::kUnavailable;
      return Fail(std::move(e));
    }
    conn_ = Conn(c, ConnCloser());
    if (uri_.find("+ssh") != std::string::npos || uri_.find("+tcp") != std::string::npos ||
        uri_.find("+tls") != std::string::npos) {
      if (virConnectSetKeepAlive(c, options_.keepalive_interval_s,
                                 static_cast<unsigned>(options_.keepalive_count)) < 0)
        virResetLastError();
    }
    callback_id_ = virConnectDomainEventRegisterAny(
        c, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        VIR_DOMAIN_EVENT_CALLBACK(&LibvirtHost::OnLifecycle), this, nullptr);
    if (callback_id_ < 0) virResetLastError();
    return conn_;
  }

  Result<std::vector<DomainInfo>> ListDomains() override {
    HP_ASSIGN_OR_RETURN(Conn c, Connection());
    virDomainPtr* doms = nullptr;
    int n = virConnectListAllDomains(c.get(), &doms, 0);
    if (n < 0) return Fail(LastError("list domains on " + uri_));
    std::vector<Dom> owned;
    for (int i = 0; i < n; ++i) owned.emplace_back(doms[i]);
    std::free(doms);
    std::vector<DomainInfo> out;
    for (auto& d : owned) {
      auto info = InfoOf(d.get());
      if (!info) {
        if (info.error().code == ErrorCode::kNotFound) continue;  // vanished meanwhile
        return Fail(info.error());
      }
      out.push_back(std::move(*info));
    }
    return out;
  }

  Result<std::optional<DomainInfo>> LookupDomain(const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Conn c, Connection());
    Dom d(virDomainLookupByName(c.get(), name.c_str()));
    if (!d) {
      core::Error e = LastError("lookup domain " + name);
      if (e.code == ErrorCode::kNotFound) return std::optional<DomainInfo>();
      return Fail(std::move(e));
    }
    HP_ASSIGN_OR_RETURN(DomainInfo info, InfoOf(d.get()));
    return std::optional<DomainInfo>(std::move(info));
  }

  Status DefineDomain(const DomainSpec& spec) override {
    HP_ASSIGN_OR_RETURN(auto existing, LookupDomain(spec.name));
    if (existing) return Fail(ErrorCode::kAlreadyExists, "domain " + spec.name + " exists on " + uri_);
    HP_ASSIGN_OR_RETURN(Conn c, Connection());
    std::string xml = DomainXmlOf(spec);
    Dom d(virDomainDefineXML(c.get(), xml.c_str()));
    if (!d) return Fail(LastError("define domain " + spec.name + " on " + uri_));
    return core::Ok();
  }

  Result<Dom> Find(const std::string& name) {
    HP_ASSIGN_OR_RETURN(Conn c, Connection());
    Dom d(virDomainLookupByName(c.get(), name.c_str()));
    if (!d) return Fail(LastError("domain " + name + " on " + uri_));
    return d;
  }

  Status UndefineDomain(const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(name));
    // No NVRAM flag: guests boot with SeaBIOS (and the test driver rejects the flag).
    if (virDomainUndefineFlags(d.get(), VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
                                            VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) < 0)
      return Fail(LastError("undefine " + name));
    return core::Ok();
  }
  Status StartDomain(const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(name));
    if (virDomainCreate(d.get()) < 0) return Fail(LastError("start " + name));
    return core::Ok();
  }
  Status ShutdownDomain(const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(name));
    if (virDomainShutdown(d.get()) < 0) return Fail(LastError("shutdown " + name));
    return core::Ok();
  }
  Status DestroyDomain(const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(name));
    if (virDomainDestroy(d.get()) < 0) return Fail(LastError("destroy " + name));
    return core::Ok();
  }
  Status RebootDomain(const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(name));
    if (virDomainReboot(d.get(), 0) < 0) return Fail(LastError("reboot " + name));
    return core::Ok();
  }
  Status ResetDomain(const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(name));
    if (virDomainReset(d.get(), 0) < 0) return Fail(LastError("reset " + name));
    return core::Ok();
  }
  Status SetDomainSize(const std::string& name, int vcpus, int64_t memory_mib) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(name));
    const unsigned cfg = VIR_DOMAIN_AFFECT_CONFIG;
    const unsigned long kib = static_cast<unsigned long>(memory_mib) * 1024;
    if (virDomainSetVcpusFlags(d.get(), static_cast<unsigned>(vcpus), cfg | VIR_DOMAIN_VCPU_MAXIMUM) < 0 ||
        virDomainSetVcpusFlags(d.get(), static_cast<unsigned>(vcpus), cfg) < 0)
      return Fail(LastError("set vcpus of " + name));
    if (virDomainSetMemoryFlags(d.get(), kib, cfg | VIR_DOMAIN_MEM_MAXIMUM) < 0 ||
        virDomainSetMemoryFlags(d.get(), kib, cfg) < 0)
      return Fail(LastError("set memory of " + name));
    return core::Ok();
  }
  Result<std::string> DomainXml(const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(name));
    CStr x(virDomainGetXMLDesc(d.get(), VIR_DOMAIN_XML_INACTIVE));
    if (!x) return Fail(LastError("xml of " + name));
    return std::string(x.get());
  }

  Status CreateSnapshot(const std::string& domain, const std::string& snapshot) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(domain));
    XmlWriter w;
    w.Open("domainsnapshot");
    w.Text("name", snapshot);
    w.Close("domainsnapshot");
    Snap s(virDomainSnapshotCreateXML(d.get(), w.str().c_str(), 0));
    if (!s) return Fail(LastError("snapshot " + domain + "/" + snapshot));
    return core::Ok();
  }
  Status RevertSnapshot(const std::string& domain, const std::string& snapshot) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(domain));
    Snap s(virDomainSnapshotLookupByName(d.get(), snapshot.c_str(), 0));
    if (!s) return Fail(LastError("snapshot " + domain + "/" + snapshot));
    if (virDomainRevertToSnapshot(s.get(), 0) < 0) return Fail(LastError("revert " + snapshot));
    return core::Ok();
  }
  Status DeleteSnapshot(const std::string& domain, const std::string& snapshot) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(domain));
    Snap s(virDomainSnapshotLookupByName(d.get(), snapshot.c_str(), 0));
    if (!s) return Fail(LastError("snapshot " + domain + "/" + snapshot));
    if (virDomainSnapshotDelete(s.get(), 0) < 0) return Fail(LastError("delete snapshot " + snapshot));
    return core::Ok();
  }
  Result<std::vector<SnapshotInfo>> ListSnapshots(const std::string& domain) override {
    HP_ASSIGN_OR_RETURN(Dom d, Find(domain));
    virDomainSnapshotPtr* snaps = nullptr;
    int n = virDomainListAllSnapshots(d.get(), &snaps, 0);
    if (n < 0) return Fail(LastError("list snapshots of " + domain));
    std::vector<SnapshotInfo> out;
    for (int i = 0; i < n; ++i) {
      Snap s(snaps[i]);
      SnapshotInfo info;
      info.name = virDomainSnapshotGetName(s.get());
      info.current = virDomainSnapshotIsCurrent(s.get(), 0) == 1;
      out.push_back(std::move(info));
    }
    std::free(snaps);
    return out;
  }

  Result<Pool> FindPool(const std::string& pool) {
    HP_ASSIGN_OR_RETURN(Conn c, Connection());
    Pool p(virStoragePoolLookupByName(c.get(), pool.c_str()));
    if (!p) return Fail(LastError("storage pool " + pool + " on " + uri_));
    return p;
  }

  static Result<VolumeInfo> VolInfoOf(const std::string& pool, virStorageVolPtr v) {
    VolumeInfo out;
    out.pool = pool;
    out.name = virStorageVolGetName(v);
    CStr path(virStorageVolGetPath(v));
    if (path) out.path = path.get();
    virStorageVolInfo info;
    if (virStorageVolGetInfo(v, &info) < 0) return Fail(LastError("volume info " + out.name));
    out.capacity_bytes = static_cast<int64_t>(info.capacity);
    return out;
  }

  Result<std::vector<VolumeInfo>> ListVolumes(const std::string& pool) override {
    HP_ASSIGN_OR_RETURN(Pool p, FindPool(pool));
    virStorageVolPtr* vols = nullptr;
    int n = virStoragePoolListAllVolumes(p.get(), &vols, 0);
    if (n < 0) return Fail(LastError("list volumes of " + pool));
    std::vector<Vol> owned;
    for (int i = 0; i < n; ++i) owned.emplace_back(vols[i]);
    std::free(vols);
    std::vector<VolumeInfo> out;
    for (auto& v : owned) {
      HP_ASSIGN_OR_RETURN(VolumeInfo info, VolInfoOf(pool, v.get()));
      out.push_back(std::move(info));
    }
    return out;
  }

  Result<std::optional<VolumeInfo>> LookupVolume(const std::string& pool,
                                                 const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Pool p, FindPool(pool));
    Vol v(virStorageVolLookupByName(p.get(), name.c_str()));
    if (!v) {
      core::Error e = LastError("volume " + pool + "/" + name);
      if (e.code == ErrorCode::kNotFound) return std::optional<VolumeInfo>();
      return Fail(std::move(e));
    }
    HP_ASSIGN_OR_RETURN(VolumeInfo info, VolInfoOf(pool, v.get()));
    return std::optional<VolumeInfo>(std::move(info));
  }

  Result<VolumeInfo> CreateVolume(const VolumeSpec& spec) override {
    HP_ASSIGN_OR_RETURN(auto existing, LookupVolume(spec.pool, spec.name));
    if (existing) return Fail(ErrorCode::kAlreadyExists, "volume " + spec.pool + "/" + spec.name + " exists");
    HP_ASSIGN_OR_RETURN(Pool p, FindPool(spec.pool));
    std::string xml = VolumeXmlOf(spec);
    Vol v(virStorageVolCreateXML(p.get(), xml.c_str(), 0));
    if (!v) return Fail(LastError("create volume " + spec.pool + "/" + spec.name));
    return VolInfoOf(spec.pool, v.get());
  }

  Status UploadVolume(const std::string& pool, const std::string& name,
                      const std::string& bytes) override {
    HP_ASSIGN_OR_RETURN(Conn c, Connection());
    HP_ASSIGN_OR_RETURN(Pool p, FindPool(pool));
    Vol v(virStorageVolLookupByName(p.get(), name.c_str()));
    if (!v) return Fail(LastError("volume " + pool + "/" + name));
    Stream st(virStreamNew(c.get(), 0));
    if (!st) return Fail(LastError("stream for " + name));
    if (virStorageVolUpload(v.get(), st.get(), 0, bytes.size(), 0) < 0) {
      virErrorPtr e = virGetLastError();
      if (e && e->code == VIR_ERR_NO_SUPPORT && uri_.starts_with("test:")) {
        // The test driver has no upload; its volumes are paths on this machine.
        virResetLastError();
        CStr path(virStorageVolGetPath(v.get()));
        if (!path) return Fail(LastError("path of " + name));
        std::ofstream f(path.get(), std::ios::binary | std::ios::trunc);
        f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!f) return Fail(ErrorCode::kInternal, std::string("cannot write ") + path.get());
        return core::Ok();
      }
      return Fail(LastError("upload to " + pool + "/" + name));
    }
    size_t off = 0;
    while (off < bytes.size()) {
      int n = virStreamSend(st.get(), bytes.data() + off, std::min<size_t>(bytes.size() - off, 256 * 1024));
      if (n < 0) {
        core::Error e = LastError("upload to " + name);
        virStreamAbort(st.get());
        return Fail(std::move(e));
      }
      off += static_cast<size_t>(n);
    }
    if (virStreamFinish(st.get()) < 0) return Fail(LastError("finish upload to " + name));
    return core::Ok();
  }

  Status DeleteVolume(const std::string& pool, const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Pool p, FindPool(pool));
    Vol v(virStorageVolLookupByName(p.get(), name.c_str()));
    if (!v) return Fail(LastError("volume " + pool + "/" + name));
    if (virStorageVolDelete(v.get(), 0) < 0) return Fail(LastError("delete volume " + name));
    return core::Ok();
  }

  Status ResizeVolume(const std::string& pool, const std::string& name,
                      int64_t capacity_bytes) override {
    HP_ASSIGN_OR_RETURN(Pool p, FindPool(pool));
    Vol v(virStorageVolLookupByName(p.get(), name.c_str()));
    if (!v) return Fail(LastError("volume " + pool + "/" + name));
    HP_ASSIGN_OR_RETURN(VolumeInfo info, VolInfoOf(pool, v.get()));
    if (capacity_bytes < info.capacity_bytes)
      return core::FailField(ErrorCode::kInvalidArgument, "capacity", "volumes only grow");
    if (capacity_bytes == info.capacity_bytes) return core::Ok();
    if (virStorageVolResize(v.get(), static_cast<unsigned long long>(capacity_bytes), 0) == 0)
      return core::Ok();
    virErrorPtr e = virGetLastError();
    if (!(e && e->code == VIR_ERR_NO_SUPPORT && uri_.starts_with("test:")))
      return Fail(LastError("resize volume " + pool + "/" + name));
    // The test driver has no resize; its volumes hold no data, so recreate at the new size.
    virResetLastError();
    CStr xml(virStorageVolGetXMLDesc(v.get(), 0));
    if (!xml) return Fail(LastError("xml of volume " + name));
    if (virStorageVolDelete(v.get(), 0) < 0) return Fail(LastError("resize (delete) " + name));
    std::string x(xml.get());
    const size_t a = x.find("<capacity"), b = x.find("</capacity>");
    if (a == std::string::npos || b == std::string::npos)
      return Fail(ErrorCode::kInternal, "volume xml without capacity");
    x.replace(a, b + 11 - a,
              "<capacity unit='bytes'>" + std::to_string(capacity_bytes) + "</capacity>");
    Vol made(virStorageVolCreateXML(p.get(), x.c_str(), 0));
    if (!made) return Fail(LastError("resize (create) " + name));
    return core::Ok();
  }

  Status WipeVolume(const std::string& pool, const std::string& name) override {
    HP_ASSIGN_OR_RETURN(Pool p, FindPool(pool));
    Vol v(virStorageVolLookupByName(p.get(), name.c_str()));
    if (!v) return Fail(LastError("volume " + pool + "/" + name));
    if (virStorageVolWipe(v.get(), 0) == 0) return core::Ok();
    virErrorPtr e = virGetLastError();
    if (!(e && e->code == VIR_ERR_NO_SUPPORT && uri_.starts_with("test:")))
      return Fail(LastError("wipe volume " + pool + "/" + name));
    virResetLastError();
    CStr path(virStorageVolGetPath(v.get()));
    if (!path) return Fail(LastError("path of " + name));
    std::error_code ec;
    const auto size = std::filesystem::file_size(path.get(), ec);
    if (ec) return core::Ok();  // no file behind this test volume: nothing to wipe
    std::ofstream f(path.get(), std::ios::binary | std::ios::in | std::ios::out);
    const std::string zeros(64 * 1024, '\0');
    for (uintmax_t off = 0; f && off < size; off += zeros.size())
      f.write(zeros.data(), static_cast<std::streamsize>(std::min<uintmax_t>(zeros.size(), size - off)));
    if (!f) return Fail(ErrorCode::kInternal, std::string("cannot wipe ") + path.get());
    return core::Ok();
  }

 private:
  static int OnLifecycle(virConnectPtr, virDomainPtr dom, int event, int, void* opaque) {
    auto* self = static_cast<LibvirtHost*>(opaque);
    DomainEvent ev;
    ev.uri = self->uri_;
    ev.domain = virDomainGetName(dom);
    // The state now, not the one the event implies: events arrive late and out of step with
    // our own calls, and a stale "started" must not undo a stop that already happened.
    (void)event;
    ev.current = [dom] {
      virDomainInfo info;
      if (virDomainGetInfo(dom, &info) == 0) return FromVirState(info.state);
      virResetLastError();  // undefined meanwhile
      return DomainState::kNoState;
    };
    ev.state = ev.current();
    std::lock_guard lock(self->sink_->mu);
    if (self->sink_->listener) self->sink_->listener(ev);
    return 0;
  }

  void Deregister() {
    if (conn_ && callback_id_ >= 0) {
      if (virConnectDomainEventDeregisterAny(conn_.get(), callback_id_) < 0) virResetLastError();
    }
    callback_id_ = -1;
  }

  const std::string uri_;
  const LibvirtOptions options_;
  std::shared_ptr<EventSink> sink_;
  std::mutex mu_;
  Conn conn_;
  int callback_id_ = -1;
};

class LibvirtSet final : public Hypervisors {
 public:
  explicit LibvirtSet(LibvirtOptions options)
      : options_(options), sink_(std::make_shared<EventSink>()) {
    EventLoop::Instance().Acquire();
  }
  ~LibvirtSet() override {
    {
      std::lock_guard lock(mu_);
      hosts_.clear();
    }
    EventLoop::Instance().Release();
  }

  Result<std::shared_ptr<Hypervisor>> Get(const std::string& uri) override {
    if (uri.empty()) return core::FailField(ErrorCode::kInvalidArgument, "uri", "libvirt URI is empty");
    std::shared_ptr<LibvirtHost> host;
    {
      std::lock_guard lock(mu_);
      auto& slot = hosts_[uri];
      if (!slot) slot = std::make_shared<LibvirtHost>(uri, options_, sink_);
      host = slot;
    }
    HP_TRY(host->Connection());  // open now so a dead host is reported here
    return std::shared_ptr<Hypervisor>(host);
  }

  void SetEventListener(DomainEventListener listener) override {
    std::lock_guard lock(sink_->mu);
    sink_->listener = std::move(listener);
  }

 private:
  LibvirtOptions options_;
  std::shared_ptr<EventSink> sink_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<LibvirtHost>> hosts_;
};

}  // namespace

std::string_view DomainStateName(DomainState s) {
  switch (s) {
    case DomainState::kNoState: return "nostate";
    case DomainState::kRunning: return "running";
    case DomainState::kBlocked: return "blocked";
    case DomainState::kPaused: return "paused";
    case DomainState::kShutdown: return "shutting-down";
    case DomainState::kShutoff: return "shutoff";
    case DomainState::kCrashed: return "crashed";
    case DomainState::kSuspended: return "suspended";
  }
  return "nostate";
}

Result<std::unique_ptr<Hypervisors>> LibvirtHypervisors::Create(const LibvirtOptions& options) {
  if (options.keepalive_interval_s < 0 || options.keepalive_count < 0)
    return core::FailField(ErrorCode::kInvalidArgument, "keepalive", "keepalive must be >= 0");
  InitLibvirtOnce();
  return std::unique_ptr<Hypervisors>(new LibvirtSet(options));
}

}  // namespace hp::provisioning
