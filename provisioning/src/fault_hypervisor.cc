// Fault injection through the same seam production uses: a Hypervisor wrapper that fails chosen
// calls (numbered across every host) before they reach libvirt.
#include <map>
#include <mutex>
#include <set>

#include "hp/provisioning/hypervisor.h"

namespace hp::provisioning {
namespace {

using core::Result;
using core::Status;

class Plan final : public FaultPlan {
 public:
  void FailCall(int64_t n) override {
    std::lock_guard lock(mu_);
    fail_.insert(n);
  }
  void Clear() override {
    std::lock_guard lock(mu_);
    fail_.clear();
    ignore_.clear();
  }
  void Ignore(std::string_view call) override {
    std::lock_guard lock(mu_);
    ignore_.emplace(call);
  }
  bool Ignored(std::string_view call) const override {
    std::lock_guard lock(mu_);
    return ignore_.contains(std::string(call));
  }
  int64_t calls() const override {
    std::lock_guard lock(mu_);
    return static_cast<int64_t>(trace_.size());
  }
  std::vector<std::string> Trace() const override {
    std::lock_guard lock(mu_);
    return trace_;
  }
  bool Next(std::string_view call) override {
    std::lock_guard lock(mu_);
    trace_.emplace_back(call);
    return fail_.contains(static_cast<int64_t>(trace_.size()));
  }

 private:
  mutable std::mutex mu_;
  std::set<int64_t> fail_;
  std::set<std::string> ignore_;
  std::vector<std::string> trace_;
};

core::Error Injected(std::string_view call) {
  return core::Error(core::ErrorCode::kUnavailable, "injected fault in " + std::string(call));
}

#define HP_FAULT(name)                                              \
  if (plan_->Next(name)) return std::unexpected(Injected(name))
// For Status calls a guest may ignore (ACPI shutdown/reboot): optionally swallowed.
#define HP_FAULT_OR_IGNORE(name) \
  HP_FAULT(name);                \
  if (plan_->Ignored(name)) return core::Ok()

class FaultyHost final : public Hypervisor {
 public:
  FaultyHost(std::shared_ptr<Hypervisor> inner, std::shared_ptr<FaultPlan> plan)
      : inner_(std::move(inner)), plan_(std::move(plan)) {}
  const std::string& uri() const override { return inner_->uri(); }

  Result<std::vector<DomainInfo>> ListDomains() override {
    HP_FAULT("ListDomains");
    return inner_->ListDomains();
  }
  Result<std::optional<DomainInfo>> LookupDomain(const std::string& n) override {
    HP_FAULT("LookupDomain");
    return inner_->LookupDomain(n);
  }
  Status DefineDomain(const DomainSpec& s) override {
    HP_FAULT("DefineDomain");
    return inner_->DefineDomain(s);
  }
  Status UndefineDomain(const std::string& n) override {
    HP_FAULT("UndefineDomain");
    return inner_->UndefineDomain(n);
  }
  Status StartDomain(const std::string& n) override {
    HP_FAULT("StartDomain");
    return inner_->StartDomain(n);
  }
  Status ShutdownDomain(const std::string& n) override {
    HP_FAULT_OR_IGNORE("ShutdownDomain");
    return inner_->ShutdownDomain(n);
  }
  Status DestroyDomain(const std::string& n) override {
    HP_FAULT("DestroyDomain");
    return inner_->DestroyDomain(n);
  }
  Status RebootDomain(const std::string& n) override {
    HP_FAULT_OR_IGNORE("RebootDomain");
    return inner_->RebootDomain(n);
  }
  Status ResetDomain(const std::string& n) override {
    HP_FAULT("ResetDomain");
    return inner_->ResetDomain(n);
  }
  Status SetDomainSize(const std::string& n, int v, int64_t m) override {
    HP_FAULT("SetDomainSize");
    return inner_->SetDomainSize(n, v, m);
  }
  Result<std::string> DomainXml(const std::string& n) override {
    HP_FAULT("DomainXml");
    return inner_->DomainXml(n);
  }
  Status CreateSnapshot(const std::string& d, const std::string& s) override {
    HP_FAULT("CreateSnapshot");
    return inner_->CreateSnapshot(d, s);
  }
  Status RevertSnapshot(const std::string& d, const std::string& s) override {
    HP_FAULT("RevertSnapshot");
    return inner_->RevertSnapshot(d, s);
  }
  Status DeleteSnapshot(const std::string& d, const std::string& s) override {
    HP_FAULT("DeleteSnapshot");
    return inner_->DeleteSnapshot(d, s);
  }
  Result<std::vector<SnapshotInfo>> ListSnapshots(const std::string& d) override {
    HP_FAULT("ListSnapshots");
    return inner_->ListSnapshots(d);
  }
  Result<std::vector<VolumeInfo>> ListVolumes(const std::string& p) override {
    HP_FAULT("ListVolumes");
    return inner_->ListVolumes(p);
  }
  Result<std::optional<VolumeInfo>> LookupVolume(const std::string& p,
                                                 const std::string& n) override {
    HP_FAULT("LookupVolume");
    return inner_->LookupVolume(p, n);
  }
  Result<VolumeInfo> CreateVolume(const VolumeSpec& s) override {
    HP_FAULT("CreateVolume");
    return inner_->CreateVolume(s);
  }
  Status UploadVolume(const std::string& p, const std::string& n, const std::string& b) override {
    HP_FAULT("UploadVolume");
    return inner_->UploadVolume(p, n, b);
  }
  Status DeleteVolume(const std::string& p, const std::string& n) override {
    HP_FAULT("DeleteVolume");
    return inner_->DeleteVolume(p, n);
  }
  Status ResizeVolume(const std::string& p, const std::string& n, int64_t c) override {
    HP_FAULT("ResizeVolume");
    return inner_->ResizeVolume(p, n, c);
  }
  Status WipeVolume(const std::string& p, const std::string& n) override {
    HP_FAULT("WipeVolume");
    return inner_->WipeVolume(p, n);
  }

 private:
  std::shared_ptr<Hypervisor> inner_;
  std::shared_ptr<FaultPlan> plan_;
};

class FaultySet final : public Hypervisors {
 public:
  FaultySet(std::unique_ptr<Hypervisors> inner, std::shared_ptr<FaultPlan> plan)
      : inner_(std::move(inner)), plan_(std::move(plan)) {}
  Result<std::shared_ptr<Hypervisor>> Get(const std::string& uri) override {
    HP_FAULT("Connect");
    HP_ASSIGN_OR_RETURN(auto host, inner_->Get(uri));
    std::lock_guard lock(mu_);
    auto& slot = hosts_[uri];
    if (!slot) slot = std::make_shared<FaultyHost>(host, plan_);
    return slot;
  }
  void SetEventListener(DomainEventListener l) override { inner_->SetEventListener(std::move(l)); }

 private:
  std::unique_ptr<Hypervisors> inner_;
  std::shared_ptr<FaultPlan> plan_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Hypervisor>> hosts_;
};

}  // namespace

std::shared_ptr<FaultPlan> FaultPlan::Create() { return std::make_shared<Plan>(); }

std::unique_ptr<Hypervisors> WithFaults(std::unique_ptr<Hypervisors> inner,
                                        std::shared_ptr<FaultPlan> plan) {
  return std::make_unique<FaultySet>(std::move(inner), std::move(plan));
}

}  // namespace hp::provisioning
