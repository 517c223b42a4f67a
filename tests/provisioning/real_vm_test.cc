// Acceptance 3: a real VM. The test starts libvirtd (and virtlogd) itself unless a system daemon
// already answers, builds a tiny bootable template (Debian cloud kernel + busybox initrd, see
// build_tiny_template.sh), creates a VPS through VpsService (the production code path) on a
// qemu:///system host with QEMU TCG, reads the boot banner back from the serial console log and
// stops it with VpsService::StopVps, which the guest honours (ACPI power button, no forced off).
//
// No dnsmasq here, so no libvirt network: the VPS NIC is <interface type='user'> (QEMU slirp),
// which the host spec selects by leaving `bridge` empty. It needs no host network at all.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <gtest/gtest.h>
#include <sstream>

#include "hp/provisioning/vps.h"
#include "prov_test_util.h"

namespace hp::provisioning {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

bool SocketAnswers(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// A libvirtd for the test: the system one when it already runs, otherwise a private daemon whose
// sockets live in the test's temp dir (URI qemu:///system?socket=...). The QEMU driver of a root
// daemon still keeps its state in /run/libvirt/qemu; virtlogd always listens on the system path.
class TestLibvirtd {
 public:
  explicit TestLibvirtd(const std::string& dir) : dir_(dir) {}
  ~TestLibvirtd() {
    for (auto* p : {&libvirtd_, &virtlogd_}) {
      if (!*p) continue;
      (*p)->Signal(SIGTERM);
      if (!(*p)->Wait(std::chrono::seconds(10))) (*p)->Signal(SIGKILL);
    }
  }

  // Empty on success, else why the daemon cannot start.
  std::string Start() {
    for (const char* bin : {"/usr/sbin/libvirtd", "/usr/sbin/virtlogd", "/usr/bin/qemu-system-x86_64"})
      if (!fs::exists(bin)) return std::string(bin) + " is not installed (scripts/bootstrap)";
    if (::geteuid() != 0) return "qemu:///system needs root";
    if (SocketAnswers("/run/libvirt/libvirt-sock")) {
      uri_ = "qemu:///system";
      return "";
    }
    if (!SocketAnswers("/run/libvirt/virtlogd-sock")) {
      virtlogd_ = std::make_unique<hp::testing::Process>(
          std::vector<std::string>{"/usr/sbin/virtlogd", "-p", dir_ + "/virtlogd.pid"},
          std::map<std::string, std::string>{}, dir_);
      if (!hp::testing::PollUntil([] { return SocketAnswers("/run/libvirt/virtlogd-sock"); },
                                  std::chrono::seconds(10)))
        return "virtlogd did not start: " + virtlogd_->Stderr();
    }
    const std::string run = dir_ + "/libvirtd-run";
    fs::create_directories(run);
    hp::testing::WriteFile(dir_ + "/libvirtd.conf",
                           "unix_sock_dir = \"" + run + "\"\n"
                           "unix_sock_rw_perms = \"0700\"\n"
                           "auth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n"
                           "log_outputs = \"3:file:" + dir_ + "/libvirtd.log\"\n");
    libvirtd_ = std::make_unique<hp::testing::Process>(
        std::vector<std::string>{"/usr/sbin/libvirtd", "-f", dir_ + "/libvirtd.conf", "-p",
                                 dir_ + "/libvirtd.pid"},
        std::map<std::string, std::string>{}, dir_);
    const std::string sock = run + "/libvirt-sock";
    if (!hp::testing::PollUntil([&] { return SocketAnswers(sock) || !libvirtd_->Running(); },
                                std::chrono::seconds(30)) ||
        !libvirtd_->Running())
      return "libvirtd did not start: " + libvirtd_->Stderr();
    uri_ = "qemu:///system?socket=" + sock;
    return "";
  }

  const std::string& uri() const { return uri_; }
  bool started_own() const { return libvirtd_ != nullptr; }

 private:
  std::string dir_;
  std::string uri_;
  std::unique_ptr<hp::testing::Process> virtlogd_;
  std::unique_ptr<hp::testing::Process> libvirtd_;
};

class RealVmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = std::make_unique<TestLibvirtd>(dir_.path());
    const std::string why = daemon_->Start();
    if (!why.empty()) GTEST_SKIP() << "SKIP: libvirtd cannot start: " << why;
    auto [rc, out] = hp::testing::Run(
        {HP_SOURCE_DIR "/tests/provisioning/build_tiny_template.sh", tiny_}, std::chrono::seconds(60));
    ASSERT_EQ(rc, 0) << "template build failed (packages from scripts/bootstrap?): " << out;
    // The version is the script's last line (out holds stderr too: a tool's warning may precede it).
    std::string trimmed = out.substr(0, out.find_last_not_of("\n") + 1);
    kernel_version_ = trimmed.substr(trimmed.find_last_of('\n') + 1);
    ASSERT_FALSE(kernel_version_.empty()) << out;

    // A transient dir pool holding the template's base disk; gone when the daemon stops.
    fs::create_directories(pool_dir_);
    fs::copy_file(tiny_ + "/disk.qcow2", pool_dir_ + "/tiny.qcow2");
    pool_ = "hp-test-" + std::to_string(::getpid());
    auto [prc, pout] = hp::testing::Run({"virsh", "-q", "-c", daemon_->uri(), "pool-create-as",
                                         pool_, "dir", "--target", pool_dir_});
    ASSERT_EQ(prc, 0) << pout;
    pool_made_ = true;

    HostSpec h;
    h.name = "tcg-01";
    h.uri = daemon_->uri();
    h.zone = "lab-1";
    h.kind = HostKind::kVps;
    h.capacity = {2, 2048, 10};
    h.storage_pool = pool_;  // bridge empty: user-mode NIC
    ASSERT_TRUE(inv_.AddHost(h));
    ASSERT_TRUE(inv_.AddTemplate({.name = "tiny", .pool = pool_, .volume = "tiny.qcow2",
                                  .min_disk_gib = 1, .kernel = tiny_ + "/vmlinuz",
                                  .initrd = tiny_ + "/initrd.gz",
                                  .cmdline = "console=ttyS0 panic=-1"}));
    ASSERT_TRUE(inv_.AddIpPool({.name = "lab-1-v4", .zone = "lab-1", .family = 4,
                                .first = "192.0.2.10", .last = "192.0.2.20", .prefix_length = 24,
                                .gateway = "192.0.2.1"}));
    auto hvs = LibvirtHypervisors::Create();
    ASSERT_TRUE(hvs);
    hvs_ = std::move(*hvs);
    fs::create_directories(console_dir_);
    VpsOptions vo;
    vo.domain_type = "qemu";  // TCG: KVM guests do not run on this machine
    vo.console_log_dir = console_dir_;
    VpsServiceDeps d{db_.get(), &clock_, &jobs_, &ids_, hvs_.get(), &inv_, &placer_, &ips_, &rdns_};
    auto svc = VpsService::Create(d, vo);
    ASSERT_TRUE(svc) << svc.error().ToString();
    vps_ = std::move(*svc);
    vps_->RegisterHandlers(pool_workers_);
    pool_workers_.Start();
  }

  void TearDown() override {
    pool_workers_.Stop(std::chrono::seconds(10));
    // Safety net: nothing of this test survives it, even when an assertion stopped it early.
    if (hvs_ && !domain_.empty()) {
      auto hv = hvs_->Get(daemon_->uri());
      if (hv) {
        (void)(*hv)->DestroyDomain(domain_);
        (void)(*hv)->UndefineDomain(domain_);
      }
    }
    if (pool_made_) hp::testing::Run({"virsh", "-q", "-c", daemon_->uri(), "pool-destroy", pool_});
    vps_.reset();  // before the hypervisors it listens to
    hvs_.reset();
  }

  std::string Console() {
    std::error_code ec;
    const std::string path = console_dir_ + "/" + domain_ + ".log";
    if (!fs::exists(path, ec)) return "";
    return hp::testing::ReadFile(path);
  }

  // What tells why a boot or a stop went wrong, for every failure message: the guest's console,
  // QEMU's and libvirtd's logs, the domain's state and the jobs so far. (CI prints only this.)
  std::string Diagnostics() {
    auto last = [](const std::string& s, size_t n) { return s.size() > n ? "..." + s.substr(s.size() - n) : s; };
    auto tail = [&](const std::string& path) {
      std::error_code ec;
      if (!fs::exists(path, ec)) return std::string("(no ") + path + ")";
      return last(hp::testing::ReadFile(path), 3000);
    };
    std::ostringstream o;
    o << "\n--- serial console (end) ---\n" << last(Console(), 2500);
    if (!domain_.empty()) {
      o << "\n--- qemu log ---\n" << tail("/var/log/libvirt/qemu/" + domain_ + ".log");
      if (hvs_) {
        if (auto hv = hvs_->Get(daemon_->uri()); hv) {
          auto info = (*hv)->LookupDomain(domain_);
          o << "\n--- domain ---\n"
            << (!info ? info.error().ToString()
                      : !*info ? std::string("not defined")
                               : "state " + std::to_string(static_cast<int>((*info)->state)));
        }
      }
    }
    o << "\n--- libvirtd log (warnings and errors) ---\n" << tail(dir_.path() + "/libvirtd.log");
    o << "\n--- jobs ---\n";
    for (const std::string& id : job_ids_) {
      auto j = jobs_.Get(id);
      if (!j) continue;
      o << j->kind << " " << core::JobStateName(j->state) << " attempts " << j->attempts
        << " progress " << j->progress.dump() << " last_error " << j->last_error << "\n";
    }
    return o.str();
  }

  VpsState StateOf(const std::string& id) {
    auto v = vps_->Get("org-lab", id);
    return v ? v->state : VpsState::kFailed;
  }

  hp::testing::TempDir dir_;
  std::string tiny_ = dir_.path() + "/tiny";
  std::string pool_dir_ = dir_.path() + "/pool";
  std::string console_dir_ = dir_.path() + "/console";
  std::unique_ptr<TestLibvirtd> daemon_;
  std::string kernel_version_;
  std::string pool_;
  bool pool_made_ = false;
  std::string domain_;
  std::vector<std::string> job_ids_;  // for Diagnostics
  std::unique_ptr<core::Database> db_ = testing::OpenDb(dir_.path());
  core::SystemClock& clock_ = core::SystemClock::Instance();
  core::RandomIdSource ids_;
  Inventory inv_{*db_, clock_, ids_};
  Placer placer_{*db_, clock_};
  IpAllocator ips_{*db_, clock_};
  StoreReverseDns rdns_{*db_, clock_};
  core::JobQueue jobs_{*db_, clock_, core::RetryPolicy{.initial_backoff = std::chrono::milliseconds(200),
                                                        .max_backoff = std::chrono::seconds(2)}};
  core::WorkerPool pool_workers_{jobs_, {.threads = 2, .idle_poll = std::chrono::milliseconds(50)}};
  std::unique_ptr<Hypervisors> hvs_;
  std::unique_ptr<VpsService> vps_;
};

TEST_F(RealVmTest, TinyVpsBootsPrintsBannerOnSerialConsoleAndShutsDownGracefully) {
  const auto t0 = Clock::now();
  auto op = vps_->CreateVps({.organization_id = "org-lab", .hostname = "tiny1.example.net",
                             .template_name = "tiny", .zone = "lab-1",
                             .plan = {.vcpus = 1, .ram_mib = 256, .disk_gib = 1}});
  ASSERT_TRUE(op) << op.error().ToString();
  job_ids_.push_back(op->id);
  pool_workers_.Notify();
  domain_ = "hp-" + op->resource_id;
  ASSERT_TRUE(hp::testing::PollUntil(
      [&] {
        const VpsState s = StateOf(op->resource_id);
        return s == VpsState::kRunning || s == VpsState::kFailed;
      },
      std::chrono::seconds(60)))
      << Diagnostics();
  auto v = vps_->Get("org-lab", op->resource_id);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->state, VpsState::kRunning) << v->last_error << Diagnostics();
  const auto t_running = Clock::now();

  auto hv = hvs_->Get(daemon_->uri());
  ASSERT_TRUE(hv);
  auto info = (*hv)->LookupDomain(domain_);
  ASSERT_TRUE(info && *info) << Diagnostics();
  EXPECT_EQ((*info)->state, DomainState::kRunning);
  EXPECT_EQ((*info)->memory_mib, 256);

  // The kernel's banner and our init's banner arrive on the serial console, logged by libvirt.
  ASSERT_TRUE(hp::testing::PollUntil([&] { return Console().find("hostplane-tiny: ready") != std::string::npos; },
                                     std::chrono::seconds(90)))
      << Diagnostics();
  const auto t_banner = Clock::now();
  const std::string console = Console();
  EXPECT_NE(console.find("Linux version " + kernel_version_), std::string::npos) << Diagnostics();
  EXPECT_NE(console.find("hostplane-tiny: booted kernel " + kernel_version_ + " on 1 vCPU"),
            std::string::npos) << Diagnostics();
  // The guest's init says "ready" either way; "acpid listens" only when the button and acpid are.
  EXPECT_NE(console.find("hostplane-tiny: acpid listens"), std::string::npos) << Diagnostics();

  // Graceful shutdown through the stop operation: an ACPI power-button press the guest acts on
  // (it says so, then powers off) well before the timeout would pull the plug.
  auto stop = vps_->StopVps("org-lab", op->resource_id, {.timeout = std::chrono::seconds(30)});
  ASSERT_TRUE(stop) << stop.error().ToString();
  job_ids_.push_back(stop->id);
  pool_workers_.Notify();
  ASSERT_TRUE(hp::testing::PollUntil(
      [&] {
        auto j = jobs_.Get(stop->id);
        return j && j->state != core::JobState::kQueued && j->state != core::JobState::kRunning;
      },
      std::chrono::seconds(60)))
      << Diagnostics();
  const auto t_stopped = Clock::now();
  auto stop_job = jobs_.Get(stop->id);
  ASSERT_TRUE(stop_job);
  ASSERT_EQ(stop_job->state, core::JobState::kSucceeded) << stop_job->last_error << Diagnostics();
  EXPECT_EQ(stop_job->result.value("graceful", false), true) << stop_job->result.dump() << Diagnostics();
  EXPECT_EQ(StateOf(op->resource_id), VpsState::kStopped);
  EXPECT_NE(Console().find("hostplane-tiny: ACPI power button, powering off"), std::string::npos)
      << "the guest powered itself off, it was not pulled" << Diagnostics();
  info = (*hv)->LookupDomain(domain_);
  ASSERT_TRUE(info && *info);
  EXPECT_EQ((*info)->state, DomainState::kShutoff);

  auto del = vps_->DeleteVps("org-lab", op->resource_id);
  ASSERT_TRUE(del);
  job_ids_.push_back(del->id);
  pool_workers_.Notify();
  ASSERT_TRUE(hp::testing::PollUntil(
      [&] { return !vps_->Get("org-lab", op->resource_id).has_value(); }, std::chrono::seconds(30)))
      << Diagnostics();
  auto gone = (*hv)->LookupDomain(domain_);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  auto vols = (*hv)->ListVolumes(pool_);
  ASSERT_TRUE(vols);
  ASSERT_EQ(vols->size(), 1u) << "only the template's base disk is left";
  domain_.clear();

  auto ms = [](auto a, auto b) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count());
  };
  std::printf("real VM (%s libvirtd): running after %lld ms, banner after %lld ms, graceful stop %lld ms\n",
              daemon_->started_own() ? "private" : "system", ms(t0, t_running), ms(t0, t_banner),
              ms(t_banner, t_stopped));
}

}  // namespace
}  // namespace hp::provisioning
