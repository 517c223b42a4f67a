#include "hp/provisioning/inventory.h"

#include <cmath>
#include <regex>

#include "ip.h"

namespace hp::generated {
const std::vector<hp::core::Migration>& provisioning_migrations();
}

namespace hp::provisioning {

using core::ErrorCode;
using core::Fail;
using core::FailField;
using core::Result;
using core::Status;

const core::MigrationSet& ProvisioningMigrations() {
  return hp::generated::provisioning_migrations();
}

std::string_view HostKindName(HostKind k) {
  switch (k) {
    case HostKind::kSharedWeb: return "shared-web";
    case HostKind::kVps: return "vps";
    case HostKind::kDedicated: return "dedicated";
  }
  return "vps";
}
std::string_view HostStateName(HostState s) {
  switch (s) {
    case HostState::kActive: return "active";
    case HostState::kDraining: return "draining";
    case HostState::kMaintenance: return "maintenance";
  }
  return "active";
}
Result<HostKind> ParseHostKind(std::string_view s) {
  for (HostKind k : {HostKind::kSharedWeb, HostKind::kVps, HostKind::kDedicated})
    if (HostKindName(k) == s) return k;
  return FailField(ErrorCode::kInvalidArgument, "kind",
                   "unknown host kind '" + std::string(s) + "' (shared-web, vps, dedicated)");
}
Result<HostState> ParseHostState(std::string_view s) {
  for (HostState k : {HostState::kActive, HostState::kDraining, HostState::kMaintenance})
    if (HostStateName(k) == s) return k;
  return FailField(ErrorCode::kInvalidArgument, "state",
                   "unknown host state '" + std::string(s) + "' (active, draining, maintenance)");
}

namespace {
int64_t EffectiveOf(int64_t total, int64_t reserved, double ratio) {
  return static_cast<int64_t>(std::floor(static_cast<double>(total - reserved) * ratio));
}
}  // namespace

Resources Host::Effective() const {
  return {EffectiveOf(spec.capacity.vcpus, spec.reserved.vcpus, spec.cpu_ratio),
          EffectiveOf(spec.capacity.ram_mib, spec.reserved.ram_mib, spec.ram_ratio),
          EffectiveOf(spec.capacity.disk_gib, spec.reserved.disk_gib, spec.disk_ratio)};
}

namespace {

const char* kHostCols =
    "public_id, name, uri, zone, kind, state, vcpus, ram_mib, disk_gib, reserved_vcpus,"
    " reserved_ram_mib, reserved_disk_gib, cpu_ratio, ram_ratio, disk_ratio, used_vcpus,"
    " used_ram_mib, used_disk_gib, allocations, storage_pool, bridge, web_root, dedicated_org,"
    " created_at";

Host RowToHost(SQLite::Statement& q) {
  Host h;
  int i = 0;
  h.id = q.getColumn(i++).getString();
  h.spec.name = q.getColumn(i++).getString();
  h.spec.uri = q.getColumn(i++).getString();
  h.spec.zone = q.getColumn(i++).getString();
  h.spec.kind = ParseHostKind(q.getColumn(i++).getString()).value_or(HostKind::kVps);
  h.state = ParseHostState(q.getColumn(i++).getString()).value_or(HostState::kMaintenance);
  h.spec.capacity = {q.getColumn(i).getInt64(), q.getColumn(i + 1).getInt64(),
                     q.getColumn(i + 2).getInt64()};
  i += 3;
  h.spec.reserved = {q.getColumn(i).getInt64(), q.getColumn(i + 1).getInt64(),
                     q.getColumn(i + 2).getInt64()};
  i += 3;
  h.spec.cpu_ratio = q.getColumn(i++).getDouble();
  h.spec.ram_ratio = q.getColumn(i++).getDouble();
  h.spec.disk_ratio = q.getColumn(i++).getDouble();
  h.used = {q.getColumn(i).getInt64(), q.getColumn(i + 1).getInt64(),
            q.getColumn(i + 2).getInt64()};
  i += 3;
  h.allocations = q.getColumn(i++).getInt64();
  h.spec.storage_pool = q.getColumn(i++).getString();
  h.spec.bridge = q.getColumn(i++).getString();
  h.spec.web_root = q.getColumn(i++).getString();
  h.dedicated_organization_id = q.getColumn(i++).getString();
  h.created_at = core::FromUnixMicros(q.getColumn(i++).getInt64());
  return h;
}

Result<Host> LoadHost(SQLite::Database& db, const char* where, const std::string& key) {
  SQLite::Statement q(db, std::string("SELECT ") + kHostCols + " FROM prov_hosts WHERE " + where);
  q.bind(1, key);
  if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "host " + key + " not found");
  return RowToHost(q);
}

bool ValidName(const std::string& s) {
  static const std::regex kRe("^[a-z0-9][a-z0-9.-]{0,62}$");
  return std::regex_match(s, kRe);
}

Status ValidateHost(const HostSpec& s) {
  if (!ValidName(s.name))
    return FailField(ErrorCode::kInvalidArgument, "name",
                     "host name must be 1-63 of a-z 0-9 . - starting with a letter or digit");
  if (s.uri.empty() || s.uri.find("://") == std::string::npos)
    return FailField(ErrorCode::kInvalidArgument, "uri", "libvirt URI like qemu+ssh://host/system");
  if (!ValidName(s.zone))
    return FailField(ErrorCode::kInvalidArgument, "zone", "zone must be like tokyo-1");
  auto check = [](int64_t total, int64_t reserved, const char* field) -> Status {
    if (total <= 0) return FailField(ErrorCode::kInvalidArgument, std::string("capacity.") + field, "must be > 0");
    if (reserved < 0 || reserved >= total)
      return FailField(ErrorCode::kInvalidArgument, std::string("reserved.") + field,
                       "must be >= 0 and below the capacity");
    return core::Ok();
  };
  HP_TRY(check(s.capacity.vcpus, s.reserved.vcpus, "vcpus"));
  HP_TRY(check(s.capacity.ram_mib, s.reserved.ram_mib, "ram_mib"));
  HP_TRY(check(s.capacity.disk_gib, s.reserved.disk_gib, "disk_gib"));
  for (auto [ratio, field] : {std::pair{s.cpu_ratio, "cpu_ratio"}, std::pair{s.ram_ratio, "ram_ratio"},
                              std::pair{s.disk_ratio, "disk_ratio"}}) {
    if (!(ratio > 0.0 && ratio <= 64.0))
      return FailField(ErrorCode::kInvalidArgument, field, "overcommit ratio must be in (0, 64]");
  }
  if (s.storage_pool.empty())
    return FailField(ErrorCode::kInvalidArgument, "storage_pool", "storage pool is empty");
  return core::Ok();
}

}  // namespace

Inventory::Inventory(core::Database& db, const core::Clock& clock, core::IdSource& ids)
    : db_(db), clock_(clock), ids_(ids) {}

Result<Host> Inventory::AddHost(const HostSpec& s) {
  HP_TRY(ValidateHost(s));
  Host h;
  h.spec = s;
  const int64_t now = core::ToUnixMicros(clock_.Now());
  const std::string id = ids_.NewId();
  const Resources eff = [&] {
    Host tmp;
    tmp.spec = s;
    return tmp.Effective();
  }();
  return db_.Write([&](SQLite::Database& db) -> Result<Host> {
    SQLite::Statement dup(db, "SELECT name, uri FROM prov_hosts WHERE name=? OR uri=?");
    dup.bind(1, s.name);
    dup.bind(2, s.uri);
    if (dup.executeStep()) {
      bool same_name = dup.getColumn(0).getString() == s.name;
      return FailField(ErrorCode::kAlreadyExists, same_name ? "name" : "uri",
                       same_name ? "a host named " + s.name + " exists"
                                 : "a host with URI " + s.uri + " exists");
    }
    SQLite::Statement ins(db,
        "INSERT INTO prov_hosts(public_id, name, uri, zone, kind, state, vcpus, ram_mib, disk_gib,"
        " reserved_vcpus, reserved_ram_mib, reserved_disk_gib, cpu_ratio, ram_ratio, disk_ratio,"
        " eff_vcpus, eff_ram_mib, eff_disk_gib, storage_pool, bridge, web_root, created_at,"
        " updated_at) VALUES (?,?,?,?,?,'active',?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    int i = 1;
    ins.bind(i++, id);
    ins.bind(i++, s.name);
    ins.bind(i++, s.uri);
    ins.bind(i++, s.zone);
    ins.bind(i++, std::string(HostKindName(s.kind)));
    for (int64_t v : {s.capacity.vcpus, s.capacity.ram_mib, s.capacity.disk_gib, s.reserved.vcpus,
                      s.reserved.ram_mib, s.reserved.disk_gib})
      ins.bind(i++, v);
    ins.bind(i++, s.cpu_ratio);
    ins.bind(i++, s.ram_ratio);
    ins.bind(i++, s.disk_ratio);
    for (int64_t v : {eff.vcpus, eff.ram_mib, eff.disk_gib}) ins.bind(i++, v);
    ins.bind(i++, s.storage_pool);
    ins.bind(i++, s.bridge);
    ins.bind(i++, s.web_root);
    ins.bind(i++, now);
    ins.bind(i++, now);
    ins.exec();
    return LoadHost(db, "public_id=?", id);
  });
}

Result<Host> Inventory::GetHost(const std::string& id) {
  return db_.Read([&](SQLite::Database& db) { return LoadHost(db, "public_id=?", id); });
}

Result<Host> Inventory::GetHostByName(const std::string& name) {
  return db_.Read([&](SQLite::Database& db) { return LoadHost(db, "name=?", name); });
}

Result<std::vector<Host>> Inventory::ListHosts() {
  return db_.Read([&](SQLite::Database& db) -> Result<std::vector<Host>> {
    SQLite::Statement q(db, std::string("SELECT ") + kHostCols + " FROM prov_hosts ORDER BY name");
    std::vector<Host> out;
    while (q.executeStep()) out.push_back(RowToHost(q));
    return out;
  });
}

Status Inventory::SetHostState(const std::string& id, HostState state) {
  const int64_t now = core::ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Status {
    SQLite::Statement u(db, "UPDATE prov_hosts SET state=?, updated_at=? WHERE public_id=?");
    u.bind(1, std::string(HostStateName(state)));
    u.bind(2, now);
    u.bind(3, id);
    if (u.exec() != 1) return Fail(ErrorCode::kNotFound, "host " + id + " not found");
    return core::Ok();
  });
}

Status Inventory::RemoveHost(const std::string& id) {
  return db_.Write([&](SQLite::Database& db) -> Status {
    HP_ASSIGN_OR_RETURN(Host h, LoadHost(db, "public_id=?", id));
    if (h.allocations > 0)
      return Fail(ErrorCode::kConflict, "host " + h.spec.name + " still carries " +
                                            std::to_string(h.allocations) +
                                            " allocations; drain it and move or delete them first");
    SQLite::Statement d(db, "DELETE FROM prov_hosts WHERE public_id=?");
    d.bind(1, id);
    d.exec();
    return core::Ok();
  });
}

// --- templates ------------------------------------------------------------------------------------

namespace {
Template RowToTemplate(SQLite::Statement& q) {
  Template t;
  t.id = q.getColumn(0).getString();
  t.spec.name = q.getColumn(1).getString();
  t.spec.pool = q.getColumn(2).getString();
  t.spec.volume = q.getColumn(3).getString();
  t.spec.format = q.getColumn(4).getString();
  t.spec.min_disk_gib = q.getColumn(5).getInt64();
  t.spec.kernel = q.getColumn(6).getString();
  t.spec.initrd = q.getColumn(7).getString();
  t.spec.cmdline = q.getColumn(8).getString();
  return t;
}
const char* kTemplateCols = "public_id, name, pool, volume, format, min_disk_gib, kernel, initrd, cmdline";
}  // namespace

Result<Template> Inventory::AddTemplate(const TemplateSpec& s) {
  if (!ValidName(s.name)) return FailField(ErrorCode::kInvalidArgument, "name", "template name like debian-12");
  if (s.pool.empty()) return FailField(ErrorCode::kInvalidArgument, "pool", "storage pool is empty");
  if (s.volume.empty()) return FailField(ErrorCode::kInvalidArgument, "volume", "base volume is empty");
  if (s.format != "qcow2" && s.format != "raw")
    return FailField(ErrorCode::kInvalidArgument, "format", "format must be qcow2 or raw");
  if (s.min_disk_gib < 1) return FailField(ErrorCode::kInvalidArgument, "min_disk_gib", "must be >= 1");
  const std::string id = ids_.NewId();
  const int64_t now = core::ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Result<Template> {
    SQLite::Statement dup(db, "SELECT 1 FROM prov_templates WHERE name=?");
    dup.bind(1, s.name);
    if (dup.executeStep()) return FailField(ErrorCode::kAlreadyExists, "name", "template " + s.name + " exists");
    SQLite::Statement ins(db,
        "INSERT INTO prov_templates(public_id, name, pool, volume, format, min_disk_gib, kernel,"
        " initrd, cmdline, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)");
    ins.bind(1, id);
    ins.bind(2, s.name);
    ins.bind(3, s.pool);
    ins.bind(4, s.volume);
    ins.bind(5, s.format);
    ins.bind(6, s.min_disk_gib);
    ins.bind(7, s.kernel);
    ins.bind(8, s.initrd);
    ins.bind(9, s.cmdline);
    ins.bind(10, now);
    ins.exec();
    return Template{id, s};
  });
}

Result<Template> Inventory::GetTemplateByName(const std::string& name) {
  return db_.Read([&](SQLite::Database& db) -> Result<Template> {
    SQLite::Statement q(db, std::string("SELECT ") + kTemplateCols + " FROM prov_templates WHERE name=?");
    q.bind(1, name);
    if (!q.executeStep()) return FailField(ErrorCode::kNotFound, "template", "no template named " + name);
    return RowToTemplate(q);
  });
}

Result<std::vector<Template>> Inventory::ListTemplates() {
  return db_.Read([&](SQLite::Database& db) -> Result<std::vector<Template>> {
    SQLite::Statement q(db, std::string("SELECT ") + kTemplateCols + " FROM prov_templates ORDER BY name");
    std::vector<Template> out;
    while (q.executeStep()) out.push_back(RowToTemplate(q));
    return out;
  });
}

// --- IP pools -------------------------------------------------------------------------------------

Result<IpPool> Inventory::AddIpPool(const IpPoolSpec& s) {
  if (!ValidName(s.name)) return FailField(ErrorCode::kInvalidArgument, "name", "pool name like tokyo-1-v4");
  if (!ValidName(s.zone)) return FailField(ErrorCode::kInvalidArgument, "zone", "zone must be like tokyo-1");
  if (s.family != 4 && s.family != 6) return FailField(ErrorCode::kInvalidArgument, "family", "family is 4 or 6");
  HP_ASSIGN_OR_RETURN(IpValue first, ParseIp(s.first, s.family));
  HP_ASSIGN_OR_RETURN(IpValue last, ParseIp(s.last, s.family));
  if (last < first) return FailField(ErrorCode::kInvalidArgument, "last", "last address is below the first");
  const int max_prefix = s.family == 4 ? 32 : 128;
  if (s.prefix_length < 1 || s.prefix_length > max_prefix)
    return FailField(ErrorCode::kInvalidArgument, "prefix_length", "prefix length out of range");
  if (!s.gateway.empty()) HP_TRY(ParseIp(s.gateway, s.family));
  const IpValue span = last - first;
  const int64_t size = span >= IpValue(INT64_MAX - 1) ? INT64_MAX : static_cast<int64_t>(span) + 1;
  const std::string id = ids_.NewId();
  const int64_t now = core::ToUnixMicros(clock_.Now());
  return db_.Write([&](SQLite::Database& db) -> Result<IpPool> {
    SQLite::Statement dup(db, "SELECT 1 FROM prov_ip_pools WHERE name=?");
    dup.bind(1, s.name);
    if (dup.executeStep()) return FailField(ErrorCode::kAlreadyExists, "name", "IP pool " + s.name + " exists");
    // Overlapping ranges would hand out one address twice.
    SQLite::Statement others(db, "SELECT name, first_address, last_address FROM prov_ip_pools WHERE family=?");
    others.bind(1, s.family);
    while (others.executeStep()) {
      IpValue f = *ParseIp(others.getColumn(1).getString(), s.family);
      IpValue l = *ParseIp(others.getColumn(2).getString(), s.family);
      if (!(last < f || l < first))
        return FailField(ErrorCode::kConflict, "first",
                         "range overlaps pool " + others.getColumn(0).getString());
    }
    SQLite::Statement ins(db,
        "INSERT INTO prov_ip_pools(public_id, name, zone, family, first_address, last_address,"
        " prefix_length, gateway, size, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)");
    ins.bind(1, id);
    ins.bind(2, s.name);
    ins.bind(3, s.zone);
    ins.bind(4, s.family);
    ins.bind(5, FormatIp(first, s.family));
    ins.bind(6, FormatIp(last, s.family));
    ins.bind(7, s.prefix_length);
    ins.bind(8, s.gateway);
    ins.bind(9, size);
    ins.bind(10, now);
    ins.exec();
    IpPool p{id, s, size, 0};
    return p;
  });
}

Result<std::vector<IpPool>> Inventory::ListIpPools() {
  return db_.Read([&](SQLite::Database& db) -> Result<std::vector<IpPool>> {
    SQLite::Statement q(db,
        "SELECT p.public_id, p.name, p.zone, p.family, p.first_address, p.last_address,"
        " p.prefix_length, p.gateway, p.size,"
        " (SELECT COUNT(*) FROM prov_ip_allocations a WHERE a.pool_id=p.id)"
        " FROM prov_ip_pools p ORDER BY p.name");
    std::vector<IpPool> out;
    while (q.executeStep()) {
      IpPool p;
      p.id = q.getColumn(0).getString();
      p.spec.name = q.getColumn(1).getString();
      p.spec.zone = q.getColumn(2).getString();
      p.spec.family = q.getColumn(3).getInt();
      p.spec.first = q.getColumn(4).getString();
      p.spec.last = q.getColumn(5).getString();
      p.spec.prefix_length = q.getColumn(6).getInt();
      p.spec.gateway = q.getColumn(7).getString();
      p.size = q.getColumn(8).getInt64();
      p.used = q.getColumn(9).getInt64();
      out.push_back(std::move(p));
    }
    return out;
  });
}

}  // namespace hp::provisioning
