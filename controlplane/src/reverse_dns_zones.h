#pragma once
// Reverse DNS of provisioned addresses as PTR records in hosted zones, so the built-in
// authoritative server (and the publisher) serve them. The reverse zones (in-addr.arpa /
// ip6.arpa, one per IP pool prefix rounded up to a label boundary) are created on demand and
// owned by kPlatformOrganization.
//
// Why customers cannot see or change them: /api/v1 zone routes scope every call by the caller's
// organization id, and organization ids are random public ids (core::NewPublicId, 22 base64url
// characters), so no organization id ever equals "platform".
//
// Thread safety: safe from any thread; writes are serialised in the process.

#include <mutex>
#include <string>
#include <string_view>

#include "hp/core/error.h"
#include "hp/dns/zone.h"
#include "hp/provisioning/inventory.h"
#include "hp/provisioning/ipam.h"

namespace hp::cp {

// Owner of the reverse zones in dns_zones.organization_id.
inline constexpr std::string_view kPlatformOrganization = "platform";

// The reverse zone holding `address` for a pool of `prefix_length`: the prefix rounded up to a
// whole label (8 bits for IPv4, one nibble for IPv6), at most /24 and /124.
// "192.0.2.10", 24 -> "2.0.192.in-addr.arpa."; "2001:db8::10", 64 ->
// "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.". kInvalidArgument for a bad address.
core::Result<std::string> ReverseZoneName(const std::string& address, int prefix_length);

class ZoneReverseDns final : public provisioning::ReverseDns {
 public:
  // `inventory` gives the pools whose prefix sizes the zones; an address outside every pool
  // uses a /24 (IPv4) or /64 (IPv6) zone.
  ZoneReverseDns(dns::ZoneService& zones, provisioning::Inventory& inventory)
      : zones_(zones), inventory_(inventory) {}

  // Writes the one PTR of `address` (replacing any other), creating the reverse zone if needed.
  // kConflict when the reverse zone, or a zone below it holding the name, belongs to a customer.
  core::Status SetPtr(const std::string& organization_id, const std::string& address,
                      const std::string& name) override;
  // Deletes every PTR of `address`; nothing to delete is fine.
  core::Status RemovePtr(const std::string& address) override;
  core::Result<std::string> GetPtr(const std::string& address) override;  // kNotFound

 private:
  core::Result<std::string> ZoneFor(const std::string& address);
  // The platform's zone `zone_name`, created if absent.
  core::Result<dns::ZoneContents> EnsureZone(const std::string& zone_name);

  dns::ZoneService& zones_;
  provisioning::Inventory& inventory_;
  std::mutex mu_;
};

}  // namespace hp::cp
