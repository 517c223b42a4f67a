#pragma once
// Placement: chooses a host for a consumer (a VPS, a dedicated server) and records the claim.
//
// Filters, in order: kind (vps guests on vps hosts, dedicated on dedicated hosts), zone, state
// (active only), dedicated exclusivity (a dedicated host holds at most one claim, for one
// organization), anti-affinity (no two members of one organization's group on one host), then
// vCPU, RAM and disk against effective capacity (see Inventory). Weighers rank the survivors:
// spread (most free RAM first, then fewest allocations) or pack (least free RAM first).
//
// The claim is atomic: filtering, weighing and recording run in one write transaction, so two
// concurrent placements never oversubscribe a host. A failed placement explains itself per
// filter: "no vps host can take 2 vCPU/4096 MiB/20 GiB in zone tokyo-1: 3 hosts: 2 out of RAM,
// 1 draining". Placing a consumer that already has a claim returns that claim (idempotent).
//
// Thread safety: safe from any thread.

#include <map>
#include <optional>
#include <string>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/store.h"
#include "hp/provisioning/inventory.h"

namespace hp::provisioning {

enum class Weigher { kSpread, kPack };

struct PlacementOptions {
  Weigher weigher = Weigher::kSpread;
};

struct PlacementRequest {
  std::string consumer_id;      // the VPS / dedicated server public id; one claim per consumer
  std::string organization_id;
  HostKind kind = HostKind::kVps;
  std::string zone;             // empty: any zone
  Resources resources;          // ignored for dedicated (the whole host is claimed)
  std::string anti_affinity_group;  // empty: none
};

struct Claim {
  std::string consumer_id;
  std::string organization_id;
  std::string host_id;
  std::string host_name;
  std::string host_uri;
  std::string zone;
  Resources resources;
};

// Why no host was chosen: hosts rejected per filter (first failing filter counts).
struct PlacementExplanation {
  int64_t hosts = 0;                         // hosts considered
  std::map<std::string, int64_t> rejected;   // reason -> hosts ("out of RAM", "draining")
  std::string ToString() const;              // "3 hosts: 2 out of RAM, 1 draining"
};

class Placer {
 public:
  Placer(core::Database& db, const core::Clock& clock, PlacementOptions options = {});

  // kUnavailable with the explanation in detail when no host passes every filter;
  // kInvalidArgument for a malformed request.
  core::Result<Claim> Place(const PlacementRequest& request);
  // What Place would say, without claiming anything.
  core::Result<PlacementExplanation> Explain(const PlacementRequest& request);
  core::Result<std::optional<Claim>> FindClaim(const std::string& consumer_id);
  // Returns the consumer's resources to its host; releasing nothing is fine.
  core::Status Release(const std::string& consumer_id);
  // Changes the size of an existing claim in place (offline resize); kUnavailable when the host
  // cannot take the growth.
  core::Status Resize(const std::string& consumer_id, const Resources& resources);

 private:
  core::Database& db_;
  const core::Clock& clock_;
  PlacementOptions options_;
};

}  // namespace hp::provisioning
