#include "reverse_dns_zones.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

namespace hp::cp {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;
using core::Status;

const std::string kPlatform(kPlatformOrganization);

// Network-order bytes of an address (IPv4 in the first four); nullopt when it does not parse.
std::optional<std::array<unsigned char, 16>> Bytes(const std::string& address, int family) {
  std::array<unsigned char, 16> b{};
  if (inet_pton(family == 4 ? AF_INET : AF_INET6, address.c_str(), b.data()) != 1)
    return std::nullopt;
  return b;
}

int FamilyOf(const std::string& address) { return address.find(':') == std::string::npos ? 4 : 6; }

// "a.b.c." without its first `n` labels.
std::string DropLabels(const std::string& name, int n) {
  size_t pos = 0;
  for (int i = 0; i < n; ++i) pos = name.find('.', pos) + 1;
  return name.substr(pos);
}

std::string Absolute(const std::string& name) {
  std::string out = name;
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (out.empty() || out.back() != '.') out += '.';
  return out;
}

}  // namespace

Result<std::string> ReverseZoneName(const std::string& address, int prefix_length) {
  HP_ASSIGN_OR_RETURN(std::string owner, provisioning::ReverseName(address));
  if (FamilyOf(address) == 4) {
    const int bits = std::clamp((prefix_length + 7) / 8 * 8, 8, 24);
    return DropLabels(owner, (32 - bits) / 8);
  }
  const int bits = std::clamp((prefix_length + 3) / 4 * 4, 4, 124);
  return DropLabels(owner, (128 - bits) / 4);
}

Result<std::string> ZoneReverseDns::ZoneFor(const std::string& address) {
  const int family = FamilyOf(address);
  auto addr = Bytes(address, family);
  if (!addr) return core::FailField(ErrorCode::kInvalidArgument, "address", "not an IP address");
  int prefix = family == 4 ? 24 : 64;
  HP_ASSIGN_OR_RETURN(auto pools, inventory_.ListIpPools());
  for (const auto& p : pools) {
    if (p.spec.family != family) continue;
    auto first = Bytes(p.spec.first, family);
    auto last = Bytes(p.spec.last, family);
    if (first && last && *first <= *addr && *addr <= *last) {
      prefix = p.spec.prefix_length;
      break;
    }
  }
  return ReverseZoneName(address, prefix);
}

Result<dns::ZoneContents> ZoneReverseDns::EnsureZone(const std::string& zone_name) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    HP_ASSIGN_OR_RETURN(auto existing, zones_.LoadByName(zone_name));
    if (existing) {
      if (existing->zone.organization_id != kPlatform)
        return Fail(ErrorCode::kConflict, "reverse zone " + zone_name +
                                              " is hosted by a customer organization; PTRs "
                                              "cannot be written into it");
      return *existing;
    }
    auto created = zones_.CreateZone(kPlatform, {.name = zone_name});
    // kAlreadyExists: another process created it between the two calls; read it again.
    if (!created && created.error().code != ErrorCode::kAlreadyExists) return Fail(created.error());
  }
  return Fail(ErrorCode::kInternal, "reverse zone " + zone_name + " vanished while created");
}

Status ZoneReverseDns::SetPtr(const std::string& /*organization_id*/, const std::string& address,
                              const std::string& name) {
  std::lock_guard lock(mu_);
  HP_ASSIGN_OR_RETURN(std::string owner, provisioning::ReverseName(address));
  HP_ASSIGN_OR_RETURN(std::string zone_name, ZoneFor(address));
  // A customer's zone between ours and the name would be served instead of ours.
  for (std::string n = owner; n != zone_name; n = DropLabels(n, 1)) {
    HP_ASSIGN_OR_RETURN(auto below, zones_.LoadByName(n));
    if (below && below->zone.organization_id != kPlatform)
      return Fail(ErrorCode::kConflict, "reverse zone " + n +
                                            " is hosted by a customer organization; the PTR of " +
                                            address + " cannot be written");
  }
  HP_ASSIGN_OR_RETURN(dns::ZoneContents zone, EnsureZone(zone_name));
  const std::string target = Absolute(name);
  bool have = false;
  for (const auto& r : zone.records) {
    if (r.type != dns::RecordType::kPTR || r.name != owner) continue;
    if (r.data == target && !have) {
      have = true;
      continue;
    }
    auto del = zones_.DeleteRecord(kPlatform, zone.zone.id, r.id);
    if (!del && del.error().code != ErrorCode::kNotFound) return del;
  }
  if (have) return core::Ok();
  auto added = zones_.AddRecord(
      kPlatform, zone.zone.id, {.name = owner, .type = "PTR", .ttl = std::nullopt, .data = target});
  if (!added && added.error().code != ErrorCode::kAlreadyExists) return Fail(added.error());
  return core::Ok();
}

Status ZoneReverseDns::RemovePtr(const std::string& address) {
  std::lock_guard lock(mu_);
  HP_ASSIGN_OR_RETURN(std::string owner, provisioning::ReverseName(address));
  HP_ASSIGN_OR_RETURN(std::string zone_name, ZoneFor(address));
  HP_ASSIGN_OR_RETURN(auto zone, zones_.LoadByName(zone_name));
  if (!zone || zone->zone.organization_id != kPlatform) return core::Ok();
  for (const auto& r : zone->records) {
    if (r.type != dns::RecordType::kPTR || r.name != owner) continue;
    auto del = zones_.DeleteRecord(kPlatform, zone->zone.id, r.id);
    if (!del && del.error().code != ErrorCode::kNotFound) return del;
  }
  return core::Ok();
}

Result<std::string> ZoneReverseDns::GetPtr(const std::string& address) {
  HP_ASSIGN_OR_RETURN(std::string owner, provisioning::ReverseName(address));
  HP_ASSIGN_OR_RETURN(std::string zone_name, ZoneFor(address));
  HP_ASSIGN_OR_RETURN(auto zone, zones_.LoadByName(zone_name));
  if (zone && zone->zone.organization_id == kPlatform) {
    for (const auto& r : zone->records)
      if (r.type == dns::RecordType::kPTR && r.name == owner) return r.data;
  }
  return Fail(ErrorCode::kNotFound, "no PTR for " + address);
}

}  // namespace hp::cp
