#include "hp/provisioning/ipam.h"

#include <arpa/inet.h>

#include <cstring>

#include "ip.h"

namespace hp::provisioning {

using core::ErrorCode;
using core::Fail;
using core::FailField;
using core::Result;
using core::Status;

Result<IpValue> ParseIp(const std::string& text, int family) {
  if (family == 4) {
    in_addr a;
    if (inet_pton(AF_INET, text.c_str(), &a) != 1)
      return FailField(ErrorCode::kInvalidArgument, "address", "'" + text + "' is not an IPv4 address");
    return static_cast<IpValue>(ntohl(a.s_addr));
  }
  in6_addr a;
  if (inet_pton(AF_INET6, text.c_str(), &a) != 1)
    return FailField(ErrorCode::kInvalidArgument, "address", "'" + text + "' is not an IPv6 address");
  IpValue v = 0;
  for (unsigned char b : a.s6_addr) v = (v << 8) | b;
  return v;
}

std::string FormatIp(IpValue v, int family) {
  char buf[INET6_ADDRSTRLEN];
  if (family == 4) {
    in_addr a;
    a.s_addr = htonl(static_cast<uint32_t>(v));
    inet_ntop(AF_INET, &a, buf, sizeof buf);
  } else {
    in6_addr a;
    for (int i = 15; i >= 0; --i) {
      a.s6_addr[i] = static_cast<unsigned char>(v & 0xff);
      v >>= 8;
    }
    inet_ntop(AF_INET6, &a, buf, sizeof buf);
  }
  return buf;
}

Result<std::string> ReverseName(const std::string& address) {
  const int family = address.find(':') == std::string::npos ? 4 : 6;
  HP_ASSIGN_OR_RETURN(IpValue v, ParseIp(address, family));
  std::string out;
  if (family == 4) {
    for (int i = 0; i < 4; ++i) {
      out += std::to_string(static_cast<unsigned>(v & 0xff)) + ".";
      v >>= 8;
    }
    return out + "in-addr.arpa.";
  }
  static const char* kHex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) {
    out += kHex[static_cast<unsigned>(v & 0xf)];
    out += '.';
    v >>= 4;
  }
  return out + "ip6.arpa.";
}

IpAllocator::IpAllocator(core::Database& db, const core::Clock& clock) : db_(db), clock_(clock) {}

namespace {
IpAssignment RowToAssignment(SQLite::Statement& q) {
  IpAssignment a;
  a.address = q.getColumn(0).getString();
  a.family = q.getColumn(1).getInt();
  a.prefix_length = q.getColumn(2).getInt();
  a.gateway = q.getColumn(3).getString();
  a.pool = q.getColumn(4).getString();
  a.organization_id = q.getColumn(5).getString();
  a.consumer_id = q.getColumn(6).getString();
  return a;
}
const char* kAssignmentSelect =
    "SELECT a.address, a.family, p.prefix_length, p.gateway, p.name, a.organization_id,"
    " a.consumer_id FROM prov_ip_allocations a JOIN prov_ip_pools p ON p.id=a.pool_id ";
}  // namespace

Result<IpAssignment> IpAllocator::Allocate(const std::string& zone, int family,
                                           const std::string& organization_id,
                                           const std::string& consumer_id) {
  if (family != 4 && family != 6) return FailField(ErrorCode::kInvalidArgument, "family", "family is 4 or 6");
  if (consumer_id.empty()) return FailField(ErrorCode::kInvalidArgument, "consumer_id", "consumer is empty");
  const int64_t now = core::ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Result<IpAssignment> {
    {
      SQLite::Statement q(db, std::string(kAssignmentSelect) + "WHERE a.consumer_id=? AND a.family=?");
      q.bind(1, consumer_id);
      q.bind(2, family);
      if (q.executeStep()) return RowToAssignment(q);
    }
    SQLite::Statement pools(db,
        "SELECT id, first_address, size FROM prov_ip_pools WHERE zone=? AND family=? ORDER BY id");
    pools.bind(1, zone);
    pools.bind(2, family);
    while (pools.executeStep()) {
      const int64_t pool_id = pools.getColumn(0).getInt64();
      const std::string first = pools.getColumn(1).getString();
      const int64_t size = pools.getColumn(2).getInt64();
      // Lowest free offset: 0 if free, else the first used offset whose successor is free.
      SQLite::Statement gap(db,
          "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM prov_ip_allocations WHERE pool_id=?1 AND"
          " offset=0) THEN 0 ELSE (SELECT MIN(a.offset)+1 FROM prov_ip_allocations a WHERE"
          " a.pool_id=?1 AND NOT EXISTS (SELECT 1 FROM prov_ip_allocations b WHERE b.pool_id=?1"
          " AND b.offset=a.offset+1)) END");
      gap.bind(1, pool_id);
      if (!gap.executeStep()) continue;
      const int64_t offset = gap.getColumn(0).getInt64();
      if (offset >= size) continue;  // full
      HP_ASSIGN_OR_RETURN(IpValue base, ParseIp(first, family));
      const std::string address = FormatIp(base + static_cast<IpValue>(offset), family);
      SQLite::Statement ins(db,
          "INSERT INTO prov_ip_allocations(pool_id, offset, address, family, organization_id,"
          " consumer_id, created_at) VALUES (?,?,?,?,?,?,?)");
      ins.bind(1, pool_id);
      ins.bind(2, offset);
      ins.bind(3, address);
      ins.bind(4, family);
      ins.bind(5, organization_id);
      ins.bind(6, consumer_id);
      ins.bind(7, now);
      ins.exec();
      SQLite::Statement q(db, std::string(kAssignmentSelect) + "WHERE a.consumer_id=? AND a.family=?");
      q.bind(1, consumer_id);
      q.bind(2, family);
      if (q.executeStep()) return RowToAssignment(q);
      return Fail(ErrorCode::kInternal, "allocated address vanished");
    }
    return Fail(core::Error(ErrorCode::kUnavailable, "no free IPv" + std::to_string(family) +
                                                         " address in zone " + zone));
  });
}

Result<std::vector<IpAssignment>> IpAllocator::ListByConsumer(const std::string& consumer_id) {
  return db_.Read([&](SQLite::Database& db) -> Result<std::vector<IpAssignment>> {
    SQLite::Statement q(db, std::string(kAssignmentSelect) + "WHERE a.consumer_id=? ORDER BY a.family");
    q.bind(1, consumer_id);
    std::vector<IpAssignment> out;
    while (q.executeStep()) out.push_back(RowToAssignment(q));
    return out;
  });
}

Status IpAllocator::ReleaseConsumer(const std::string& consumer_id) {
  return db_.Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement d(db, "DELETE FROM prov_ip_allocations WHERE consumer_id=?");
    d.bind(1, consumer_id);
    d.exec();
    return core::Ok();
  });
}

Result<int64_t> IpAllocator::CountAllocated() {
  return db_.Read([&](SQLite::Database& db) -> Result<int64_t> {
    SQLite::Statement q(db, "SELECT COUNT(*) FROM prov_ip_allocations");
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

Status StoreReverseDns::SetPtr(const std::string& organization_id, const std::string& address,
                               const std::string& name) {
  HP_TRY(ReverseName(address));
  const int64_t now = core::ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement u(db,
        "INSERT INTO prov_ptr_records(address, name, organization_id, updated_at) VALUES (?,?,?,?)"
        " ON CONFLICT(address) DO UPDATE SET name=excluded.name,"
        " organization_id=excluded.organization_id, updated_at=excluded.updated_at");
    u.bind(1, address);
    u.bind(2, name);
    u.bind(3, organization_id);
    u.bind(4, now);
    u.exec();
    return core::Ok();
  });
}

Status StoreReverseDns::RemovePtr(const std::string& address) {
  return db_.Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement d(db, "DELETE FROM prov_ptr_records WHERE address=?");
    d.bind(1, address);
    d.exec();
    return core::Ok();
  });
}

Result<std::string> StoreReverseDns::GetPtr(const std::string& address) {
  return db_.Read([&](SQLite::Database& db) -> Result<std::string> {
    SQLite::Statement q(db, "SELECT name FROM prov_ptr_records WHERE address=?");
    q.bind(1, address);
    if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "no PTR for " + address);
    return q.getColumn(0).getString();
  });
}

Result<int64_t> StoreReverseDns::Count() {
  return db_.Read([&](SQLite::Database& db) -> Result<int64_t> {
    SQLite::Statement q(db, "SELECT COUNT(*) FROM prov_ptr_records");
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

}  // namespace hp::provisioning
