#pragma once
// IP address management: addresses are handed out from the pools of a zone (see Inventory) to a
// consumer (a VPS or a dedicated host), one per family, and returned on release. Allocation is
// idempotent per (consumer, family): asking again returns the same address, so a job step that
// is re-run after a crash never takes a second one.
//
// Thread safety: safe from any thread; allocation runs in one store transaction, so two
// concurrent allocations never get the same address.

#include <string>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/store.h"

namespace hp::provisioning {

struct IpAssignment {
  std::string address;  // "192.0.2.10", "2001:db8::10"
  int family = 4;
  int prefix_length = 0;
  std::string gateway;
  std::string pool;             // pool name
  std::string organization_id;
  std::string consumer_id;
};

class IpAllocator {
 public:
  IpAllocator(core::Database& db, const core::Clock& clock);
  // kUnavailable naming the zone and family when every pool is full or none exists.
  core::Result<IpAssignment> Allocate(const std::string& zone, int family,
                                      const std::string& organization_id,
                                      const std::string& consumer_id);
  core::Result<std::vector<IpAssignment>> ListByConsumer(const std::string& consumer_id);
  // Releases every address of the consumer; releasing nothing is fine.
  core::Status ReleaseConsumer(const std::string& consumer_id);
  core::Result<int64_t> CountAllocated();

 private:
  core::Database& db_;
  const core::Clock& clock_;
};

// Reverse DNS (PTR) records for assigned addresses. The dns/ module will provide the
// authoritative implementation; StoreReverseDns keeps the records in our store until then.
// Both calls are idempotent. Thread-safe.
class ReverseDns {
 public:
  virtual ~ReverseDns() = default;
  virtual core::Status SetPtr(const std::string& organization_id, const std::string& address,
                              const std::string& name) = 0;
  virtual core::Status RemovePtr(const std::string& address) = 0;
  virtual core::Result<std::string> GetPtr(const std::string& address) = 0;  // kNotFound
};

class StoreReverseDns final : public ReverseDns {
 public:
  StoreReverseDns(core::Database& db, const core::Clock& clock) : db_(db), clock_(clock) {}
  core::Status SetPtr(const std::string& organization_id, const std::string& address,
                      const std::string& name) override;
  core::Status RemovePtr(const std::string& address) override;
  core::Result<std::string> GetPtr(const std::string& address) override;
  core::Result<int64_t> Count();

 private:
  core::Database& db_;
  const core::Clock& clock_;
};

// "192.0.2.10" -> "10.2.0.192.in-addr.arpa."; IPv6 nibble form under ip6.arpa.
core::Result<std::string> ReverseName(const std::string& address);

}  // namespace hp::provisioning
