#pragma once
// The provisioning routes of /api/v1: VPS, shared-hosting sites and dedicated servers under
// /api/v1/organizations/{org}/..., and the operator's inventory under /api/v1/admin/.
// Handlers stay thin: parse (problems name the field), check placement up front so a full
// inventory is refused with the per-filter explanation, call the service, audit, and answer
// 202 Accepted with the operation URL (GET .../operations/{id} shows progress).

#include <string>

#include "api.h"
#include "hp/core/http.h"
#include "hp/core/json.h"
#include "hp/provisioning/dedicated.h"
#include "hp/provisioning/inventory.h"
#include "hp/provisioning/ipam.h"
#include "hp/provisioning/placement.h"
#include "hp/provisioning/shared_hosting.h"
#include "hp/provisioning/vps.h"

namespace hp::cp {

struct ProvisioningRouteDeps {
  provisioning::Inventory* inventory = nullptr;
  provisioning::Placer* placer = nullptr;
  provisioning::IpAllocator* ips = nullptr;
  provisioning::VpsService* vps = nullptr;
  provisioning::DedicatedService* dedicated = nullptr;
  // Null when shared hosting is unavailable (routes answer 503 with `sites_unavailable`).
  provisioning::SharedHostingService* sites = nullptr;
  std::string sites_unavailable;
  std::string default_zone;     // used when a request names no zone
  std::string console_log_dir;  // <dir>/<domain>.log is a VPS's serial console
};

void RegisterProvisioningRoutes(Api& api, core::http::Router& router,
                                const ProvisioningRouteDeps& deps);

// Shared with `hostplane hosts` (cli_hosts.cc).
core::Json HostJson(const provisioning::Host& h);
// Parses an AddHost body (problems name the field, e.g. "capacity.vcpus").
core::Result<provisioning::HostSpec> HostSpecFromJson(const core::Json& body);

}  // namespace hp::cp
