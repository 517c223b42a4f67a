#include "hp/provisioning/placement.h"

#include <algorithm>
#include <set>

namespace hp::provisioning {

using core::ErrorCode;
using core::Fail;
using core::FailField;
using core::Result;
using core::Status;

std::string PlacementExplanation::ToString() const {
  std::string out = std::to_string(hosts) + (hosts == 1 ? " host" : " hosts");
  if (rejected.empty()) return out;
  // Largest groups first, so the main reason reads first.
  std::vector<std::pair<std::string, int64_t>> v(rejected.begin(), rejected.end());
  std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
  out += ": ";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(v[i].second) + " " + v[i].first;
  }
  return out;
}

namespace {

struct Candidate {
  int64_t row = 0;
  std::string id, name, uri, zone;
  HostState state = HostState::kActive;
  Resources eff, used;
  int64_t allocations = 0;
  std::string dedicated_org;
};

const char* kCandidateCols =
    "id, public_id, name, uri, zone, state, eff_vcpus, eff_ram_mib, eff_disk_gib, used_vcpus,"
    " used_ram_mib, used_disk_gib, allocations, dedicated_org FROM prov_hosts";

Candidate RowToCandidate(SQLite::Statement& q) {
  Candidate c;
  c.row = q.getColumn(0).getInt64();
  c.id = q.getColumn(1).getString();
  c.name = q.getColumn(2).getString();
  c.uri = q.getColumn(3).getString();
  c.zone = q.getColumn(4).getString();
  c.state = ParseHostState(q.getColumn(5).getString()).value_or(HostState::kMaintenance);
  c.eff = {q.getColumn(6).getInt64(), q.getColumn(7).getInt64(), q.getColumn(8).getInt64()};
  c.used = {q.getColumn(9).getInt64(), q.getColumn(10).getInt64(), q.getColumn(11).getInt64()};
  c.allocations = q.getColumn(12).getInt64();
  c.dedicated_org = q.getColumn(13).getString();
  return c;
}

// The filter chain: the first reason a host cannot take the request, or empty.
std::string Reject(const Candidate& c, const PlacementRequest& r, const std::set<int64_t>& group_hosts) {
  if (!r.zone.empty() && c.zone != r.zone) return "in another zone";
  if (c.state == HostState::kDraining) return "draining";
  if (c.state == HostState::kMaintenance) return "in maintenance";
  if (r.kind == HostKind::kDedicated) {
    if (c.allocations > 0) return "already dedicated";
    return "";
  }
  if (group_hosts.contains(c.row)) return "holding a member of anti-affinity group";
  if (c.used.vcpus + r.resources.vcpus > c.eff.vcpus) return "out of vCPU";
  if (c.used.ram_mib + r.resources.ram_mib > c.eff.ram_mib) return "out of RAM";
  if (c.used.disk_gib + r.resources.disk_gib > c.eff.disk_gib) return "out of disk";
  return "";
}

Status Validate(const PlacementRequest& r) {
  if (r.consumer_id.empty()) return FailField(ErrorCode::kInvalidArgument, "consumer_id", "consumer is empty");
  if (r.organization_id.empty())
    return FailField(ErrorCode::kInvalidArgument, "organization_id", "organization is empty");
  if (r.kind == HostKind::kVps) {
    if (r.resources.vcpus < 1) return FailField(ErrorCode::kInvalidArgument, "vcpus", "must be >= 1");
    if (r.resources.ram_mib < 1) return FailField(ErrorCode::kInvalidArgument, "ram_mib", "must be >= 1");
  }
  if (r.resources.vcpus < 0 || r.resources.ram_mib < 0 || r.resources.disk_gib < 0)
    return FailField(ErrorCode::kInvalidArgument, "resources", "must be >= 0");
  return core::Ok();
}

Result<std::optional<Claim>> LoadClaim(SQLite::Database& db, const std::string& consumer_id) {
  SQLite::Statement q(db,
      "SELECT a.organization_id, h.public_id, h.name, h.uri, h.zone, a.vcpus, a.ram_mib, a.disk_gib"
      " FROM prov_allocations a JOIN prov_hosts h ON h.id=a.host_id WHERE a.consumer_id=?");
  q.bind(1, consumer_id);
  if (!q.executeStep()) return std::optional<Claim>();
  Claim c;
  c.consumer_id = consumer_id;
  c.organization_id = q.getColumn(0).getString();
  c.host_id = q.getColumn(1).getString();
  c.host_name = q.getColumn(2).getString();
  c.host_uri = q.getColumn(3).getString();
  c.zone = q.getColumn(4).getString();
  c.resources = {q.getColumn(5).getInt64(), q.getColumn(6).getInt64(), q.getColumn(7).getInt64()};
  return std::optional<Claim>(std::move(c));
}

std::set<int64_t> GroupHosts(SQLite::Database& db, const PlacementRequest& r) {
  std::set<int64_t> out;
  if (r.anti_affinity_group.empty()) return out;
  SQLite::Statement q(db,
      "SELECT DISTINCT host_id FROM prov_allocations WHERE organization_id=? AND affinity_group=?");
  q.bind(1, r.organization_id);
  q.bind(2, r.anti_affinity_group);
  while (q.executeStep()) out.insert(q.getColumn(0).getInt64());
  return out;
}

PlacementExplanation ExplainIn(SQLite::Database& db, const PlacementRequest& r) {
  PlacementExplanation ex;
  const std::set<int64_t> group = GroupHosts(db, r);
  SQLite::Statement q(db, std::string("SELECT ") + kCandidateCols + " WHERE kind=?");
  q.bind(1, std::string(HostKindName(r.kind)));
  while (q.executeStep()) {
    Candidate c = RowToCandidate(q);
    ++ex.hosts;
    std::string why = Reject(c, r, group);
    if (!why.empty()) ++ex.rejected[why];
  }
  return ex;
}

std::string Describe(const PlacementRequest& r) {
  std::string out = "no " + std::string(HostKindName(r.kind)) + " host can take ";
  if (r.kind == HostKind::kDedicated) {
    out += "a dedicated server";
  } else {
    out += std::to_string(r.resources.vcpus) + " vCPU/" + std::to_string(r.resources.ram_mib) +
           " MiB/" + std::to_string(r.resources.disk_gib) + " GiB";
  }
  if (!r.zone.empty()) out += " in zone " + r.zone;
  return out;
}

}  // namespace

Placer::Placer(core::Database& db, const core::Clock& clock, PlacementOptions options)
    : db_(db), clock_(clock), options_(options) {}

Result<Claim> Placer::Place(const PlacementRequest& r) {
  HP_TRY(Validate(r));
  const int64_t now = core::ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Result<Claim> {
    HP_ASSIGN_OR_RETURN(auto existing, LoadClaim(db, r.consumer_id));
    if (existing) return std::move(*existing);
    const std::set<int64_t> group = GroupHosts(db, r);
    // The SQL narrows to active hosts of the kind/zone with room; the C++ chain is the authority
    // (and the only thing used to explain a failure).
    std::string sql = std::string("SELECT ") + kCandidateCols + " WHERE kind=?1 AND state='active'";
    if (!r.zone.empty()) sql += " AND zone=?2";
    if (r.kind == HostKind::kDedicated) {
      sql += " AND allocations=0";
    } else {
      sql += " AND used_vcpus+?3<=eff_vcpus AND used_ram_mib+?4<=eff_ram_mib AND"
             " used_disk_gib+?5<=eff_disk_gib";
    }
    SQLite::Statement q(db, sql);
    q.bind(1, std::string(HostKindName(r.kind)));
    if (!r.zone.empty()) q.bind(2, r.zone);
    if (r.kind != HostKind::kDedicated) {
      q.bind(3, r.resources.vcpus);
      q.bind(4, r.resources.ram_mib);
      q.bind(5, r.resources.disk_gib);
    }
    const Candidate* best = nullptr;
    Candidate best_storage;
    auto better = [&](const Candidate& a, const Candidate& b) {  // a ranks above b
      const int64_t fa = a.eff.ram_mib - a.used.ram_mib, fb = b.eff.ram_mib - b.used.ram_mib;
      if (options_.weigher == Weigher::kSpread) {
        if (fa != fb) return fa > fb;
        if (a.allocations != b.allocations) return a.allocations < b.allocations;
      } else {
        if (fa != fb) return fa < fb;
        if (a.allocations != b.allocations) return a.allocations > b.allocations;
      }
      return a.name < b.name;
    };
    while (q.executeStep()) {
      Candidate c = RowToCandidate(q);
      if (!Reject(c, r, group).empty()) continue;
      if (!best || better(c, *best)) {
        best_storage = std::move(c);
        best = &best_storage;
      }
    }
    if (!best) {
      PlacementExplanation ex = ExplainIn(db, r);
      std::string detail = Describe(r) + ": ";
      detail += ex.hosts == 0 ? "no " + std::string(HostKindName(r.kind)) + " hosts in inventory"
                              : ex.ToString();
      return Fail(ErrorCode::kUnavailable, detail);
    }
    Resources take = r.kind == HostKind::kDedicated ? best->eff : r.resources;
    SQLite::Statement ins(db,
        "INSERT INTO prov_allocations(consumer_id, host_id, organization_id, vcpus, ram_mib,"
        " disk_gib, affinity_group, created_at) VALUES (?,?,?,?,?,?,?,?)");
    ins.bind(1, r.consumer_id);
    ins.bind(2, best->row);
    ins.bind(3, r.organization_id);
    ins.bind(4, take.vcpus);
    ins.bind(5, take.ram_mib);
    ins.bind(6, take.disk_gib);
    ins.bind(7, r.anti_affinity_group);
    ins.bind(8, now);
    ins.exec();
    SQLite::Statement u(db,
        "UPDATE prov_hosts SET used_vcpus=used_vcpus+?1, used_ram_mib=used_ram_mib+?2,"
        " used_disk_gib=used_disk_gib+?3, allocations=allocations+1, dedicated_org=?4,"
        " updated_at=?5 WHERE id=?6 AND used_vcpus+?1<=eff_vcpus AND"
        " used_ram_mib+?2<=eff_ram_mib AND used_disk_gib+?3<=eff_disk_gib");
    u.bind(1, take.vcpus);
    u.bind(2, take.ram_mib);
    u.bind(3, take.disk_gib);
    u.bind(4, r.kind == HostKind::kDedicated ? r.organization_id : best->dedicated_org);
    u.bind(5, now);
    u.bind(6, best->row);
    if (u.exec() != 1) return Fail(ErrorCode::kInternal, "claim on host " + best->name + " lost its room");
    Claim c;
    c.consumer_id = r.consumer_id;
    c.organization_id = r.organization_id;
    c.host_id = best->id;
    c.host_name = best->name;
    c.host_uri = best->uri;
    c.zone = best->zone;
    c.resources = take;
    return c;
  });
}

Result<PlacementExplanation> Placer::Explain(const PlacementRequest& r) {
  HP_TRY(Validate(r));
  return db_.Read([&](SQLite::Database& db) -> Result<PlacementExplanation> { return ExplainIn(db, r); });
}

Result<std::optional<Claim>> Placer::FindClaim(const std::string& consumer_id) {
  return db_.Read([&](SQLite::Database& db) { return LoadClaim(db, consumer_id); });
}

Status Placer::Release(const std::string& consumer_id) {
  const int64_t now = core::ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement q(db, "SELECT host_id, vcpus, ram_mib, disk_gib FROM prov_allocations WHERE consumer_id=?");
    q.bind(1, consumer_id);
    if (!q.executeStep()) return core::Ok();
    const int64_t host = q.getColumn(0).getInt64();
    SQLite::Statement u(db,
        "UPDATE prov_hosts SET used_vcpus=used_vcpus-?, used_ram_mib=used_ram_mib-?,"
        " used_disk_gib=used_disk_gib-?, allocations=allocations-1,"
        " dedicated_org=CASE WHEN allocations=1 THEN '' ELSE dedicated_org END, updated_at=?"
        " WHERE id=?");
    u.bind(1, q.getColumn(1).getInt64());
    u.bind(2, q.getColumn(2).getInt64());
    u.bind(3, q.getColumn(3).getInt64());
    u.bind(4, now);
    u.bind(5, host);
    q.reset();
    u.exec();
    SQLite::Statement d(db, "DELETE FROM prov_allocations WHERE consumer_id=?");
    d.bind(1, consumer_id);
    d.exec();
    return core::Ok();
  });
}

Status Placer::Resize(const std::string& consumer_id, const Resources& to) {
  if (to.vcpus < 1 || to.ram_mib < 1 || to.disk_gib < 0)
    return FailField(ErrorCode::kInvalidArgument, "resources", "vCPU and RAM must be >= 1");
  const int64_t now = core::ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement q(db,
        "SELECT a.host_id, a.vcpus, a.ram_mib, a.disk_gib, h.name FROM prov_allocations a JOIN"
        " prov_hosts h ON h.id=a.host_id WHERE a.consumer_id=?");
    q.bind(1, consumer_id);
    if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "no claim for " + consumer_id);
    const int64_t host = q.getColumn(0).getInt64();
    const int64_t dv = to.vcpus - q.getColumn(1).getInt64();
    const int64_t dr = to.ram_mib - q.getColumn(2).getInt64();
    const int64_t dd = to.disk_gib - q.getColumn(3).getInt64();
    const std::string name = q.getColumn(4).getString();
    q.reset();
    SQLite::Statement u(db,
        "UPDATE prov_hosts SET used_vcpus=used_vcpus+?1, used_ram_mib=used_ram_mib+?2,"
        " used_disk_gib=used_disk_gib+?3, updated_at=?4 WHERE id=?5 AND used_vcpus+?1<=eff_vcpus"
        " AND used_ram_mib+?2<=eff_ram_mib AND used_disk_gib+?3<=eff_disk_gib");
    u.bind(1, dv);
    u.bind(2, dr);
    u.bind(3, dd);
    u.bind(4, now);
    u.bind(5, host);
    if (u.exec() != 1) return Fail(ErrorCode::kUnavailable, "host " + name + " cannot take the new size");
    SQLite::Statement a(db, "UPDATE prov_allocations SET vcpus=?, ram_mib=?, disk_gib=? WHERE consumer_id=?");
    a.bind(1, to.vcpus);
    a.bind(2, to.ram_mib);
    a.bind(3, to.disk_gib);
    a.bind(4, consumer_id);
    a.exec();
    return core::Ok();
  });
}

}  // namespace hp::provisioning
