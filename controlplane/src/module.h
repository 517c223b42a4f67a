#pragma once
// How a module is mounted into `hostplane serve`. The composition root (serve.cc) builds the
// shared kernel (config, store, clock, router, jobs) and then asks every ModuleSpec in
// AllModules() for its config keys, its migrations, and finally to mount itself: construct its
// real implementations, register routes and job handlers, and start its threads.

#include <memory>
#include <map>
#include <string>
#include <typeindex>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/config.h"
#include "hp/core/http.h"
#include "hp/core/jobs.h"
#include "hp/core/metrics.h"
#include "hp/core/store.h"

namespace hp::cp {

// Services one module offers another (e.g. the API framework, the DNS resolver), by type. Modules
// are mounted in AllModules() order, so a module finds what earlier modules put here.
class ServiceRegistry {
 public:
  template <typename T>
  void Put(T* service) {
    services_[std::type_index(typeid(T))] = service;
  }
  template <typename T>
  T* Get() const {
    auto it = services_.find(std::type_index(typeid(T)));
    return it == services_.end() ? nullptr : static_cast<T*>(it->second);
  }

 private:
  std::map<std::type_index, void*> services_;
};

struct ServeContext {
  const core::Config& config;
  core::Database& db;
  const core::Clock& clock;
  core::http::Router& router;
  core::JobQueue& jobs;
  core::WorkerPool& workers;  // register handlers in Mount(); started after all modules mounted
  core::MetricsRegistry& metrics;
  std::string var_dir;          // "./var" in --dev: module state lives in var_dir/<module>/
  std::string public_base_url;  // "https://localhost:8443" (no trailing slash)
  bool dev = false;
  ServiceRegistry* services = nullptr;  // never null while mounting
};

// What a mounted module keeps alive; Stop() is called on shutdown (before the store closes).
class ServedModule {
 public:
  virtual ~ServedModule() = default;
  virtual void Stop() {}
};

struct ModuleSpec {
  std::string name;
  void (*add_config)(core::ConfigSchema& schema) = nullptr;
  std::vector<const core::MigrationSet*> (*migrations)() = nullptr;
  core::Result<std::unique_ptr<ServedModule>> (*mount)(ServeContext& ctx) = nullptr;
};

// Every module served by the binary, in mount order (modules.cc).
const std::vector<ModuleSpec>& AllModules();

}  // namespace hp::cp
