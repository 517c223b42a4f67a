#include <cstdio>
#include <map>
#include <set>

#include "hp/core/log.h"
#include "hp/dns/zone.h"
#include "ldns_util.h"
#include "names.h"

namespace hp::generated {
const std::vector<hp::core::Migration>& dns_migrations();
}

namespace hp::dns {

using hp::core::ErrorCode;
using hp::core::Fail;
using hp::core::FailField;
using hp::core::Result;
using hp::core::Status;
using internal::ToLower;

const hp::core::MigrationSet& DnsMigrations() { return hp::generated::dns_migrations(); }

namespace {

constexpr RecordType kAllTypes[] = {RecordType::kA,   RecordType::kAAAA, RecordType::kCNAME,
                                    RecordType::kMX,  RecordType::kTXT,  RecordType::kCAA,
                                    RecordType::kNS,  RecordType::kSRV,  RecordType::kPTR};
constexpr uint32_t kMaxTtl = 2147483647;

constexpr const char* kZoneColumns =
    "id, public_id, organization_id, name, default_ttl, soa_ttl, soa_mname, soa_rname, "
    "soa_serial, soa_refresh, soa_retry, soa_expire, soa_minimum, created_at, updated_at";

struct ZoneRow {
  int64_t rowid = 0;
  Zone zone;
};

ZoneRow ReadZone(SQLite::Statement& q) {
  ZoneRow r;
  r.rowid = q.getColumn(0).getInt64();
  Zone& z = r.zone;
  z.id = q.getColumn(1).getString();
  z.organization_id = q.getColumn(2).getString();
  z.name = q.getColumn(3).getString();
  z.default_ttl = static_cast<uint32_t>(q.getColumn(4).getInt64());
  z.soa.ttl = static_cast<uint32_t>(q.getColumn(5).getInt64());
  z.soa.mname = q.getColumn(6).getString();
  z.soa.rname = q.getColumn(7).getString();
  z.soa.serial = static_cast<uint32_t>(q.getColumn(8).getInt64());
  z.soa.refresh = static_cast<uint32_t>(q.getColumn(9).getInt64());
  z.soa.retry = static_cast<uint32_t>(q.getColumn(10).getInt64());
  z.soa.expire = static_cast<uint32_t>(q.getColumn(11).getInt64());
  z.soa.minimum = static_cast<uint32_t>(q.getColumn(12).getInt64());
  z.created_at = hp::core::FromUnixMicros(q.getColumn(13).getInt64());
  z.updated_at = hp::core::FromUnixMicros(q.getColumn(14).getInt64());
  return r;
}

Result<ZoneRow> FindZone(SQLite::Database& db, const std::string& org, const std::string& id) {
  SQLite::Statement q(db, std::string("SELECT ") + kZoneColumns +
                              " FROM dns_zones WHERE public_id = ? AND organization_id = ?");
  q.bind(1, id);
  q.bind(2, org);
  if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "zone " + id + " not found");
  return ReadZone(q);
}

Result<std::optional<ZoneRow>> FindZoneByName(SQLite::Database& db, const std::string& name) {
  SQLite::Statement q(db, std::string("SELECT ") + kZoneColumns +
                              " FROM dns_zones WHERE name = ?");
  q.bind(1, name);
  if (!q.executeStep()) return std::optional<ZoneRow>();
  return std::optional<ZoneRow>(ReadZone(q));
}

Record ReadRecord(SQLite::Statement& q, const std::string& zone_id) {
  Record r;
  r.id = q.getColumn(0).getString();
  r.zone_id = zone_id;
  r.name = q.getColumn(1).getString();
  r.type = *ParseRecordType(q.getColumn(2).getString());
  r.ttl = static_cast<uint32_t>(q.getColumn(3).getInt64());
  r.data = q.getColumn(4).getString();
  return r;
}

std::vector<Record> RecordsOf(SQLite::Database& db, int64_t zone_rowid, const std::string& zone_id,
                              const std::string* name = nullptr) {
  std::string sql = "SELECT public_id, name, type, ttl, data FROM dns_records WHERE zone_id = ?";
  if (name) sql += " AND name = ?";
  sql += " ORDER BY name, type, id";
  SQLite::Statement q(db, sql);
  q.bind(1, zone_rowid);
  if (name) q.bind(2, *name);
  std::vector<Record> out;
  while (q.executeStep()) out.push_back(ReadRecord(q, zone_id));
  return out;
}

uint32_t NextSerial(uint32_t s) {
  uint32_t n = s + 1;
  return n == 0 ? 1 : n;
}

int64_t BumpSerial(SQLite::Database& db, int64_t rowid, uint32_t serial, hp::core::TimePoint now) {
  uint32_t next = NextSerial(serial);
  SQLite::Statement u(db, "UPDATE dns_zones SET soa_serial = ?, updated_at = ? WHERE id = ?");
  u.bind(1, static_cast<int64_t>(next));
  u.bind(2, hp::core::ToUnixMicros(now));
  u.bind(3, rowid);
  u.exec();
  return next;
}

void InsertRecord(SQLite::Database& db, int64_t zone_rowid, const Record& r,
                  hp::core::TimePoint now) {
  SQLite::Statement ins(db,
                        "INSERT INTO dns_records (public_id, zone_id, name, type, ttl, data, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  ins.bind(1, r.id);
  ins.bind(2, zone_rowid);
  ins.bind(3, r.name);
  ins.bind(4, std::string(RecordTypeName(r.type)));
  ins.bind(5, static_cast<int64_t>(r.ttl));
  ins.bind(6, r.data);
  ins.bind(7, hp::core::ToUnixMicros(now));
  ins.exec();
}

// CNAME exclusivity, RRset TTL agreement and duplicates, against the records already at the
// owner name (excluding `ignore_id`).
Status CheckAgainst(const Zone& zone, const Record& r, const std::vector<Record>& at_name,
                    const std::string& ignore_id) {
  if (r.type == RecordType::kCNAME && r.name == zone.name) {
    return FailField(ErrorCode::kConflict, "type", "a CNAME is not allowed at the zone apex");
  }
  for (const Record& e : at_name) {
    if (e.id == ignore_id) continue;
    if (r.type == RecordType::kCNAME) {
      return FailField(ErrorCode::kConflict, "type",
                       "a CNAME must be the only record at " + r.name + " (it has " +
                           std::string(RecordTypeName(e.type)) + ")");
    }
    if (e.type == RecordType::kCNAME) {
      return FailField(ErrorCode::kConflict, "name", r.name + " already has a CNAME");
    }
    if (e.type == r.type) {
      if (e.data == r.data) {
        return Fail(ErrorCode::kAlreadyExists, "the record already exists (" + e.id + ")");
      }
      if (e.ttl != r.ttl) {
        return FailField(ErrorCode::kInvalidArgument, "ttl",
                         "records of one RRset share one TTL; the existing TTL is " +
                             std::to_string(e.ttl));
      }
    }
  }
  return hp::core::Ok();
}

// A zone may not overlap a zone of another organization (it would capture its names).
Status CheckOverlap(SQLite::Database& db, const std::string& org, const std::string& name) {
  SQLite::Statement q(db, "SELECT name, organization_id FROM dns_zones");
  while (q.executeStep()) {
    std::string other = q.getColumn(0).getString();
    if (other == name) {
      return FailField(ErrorCode::kAlreadyExists, "name", "zone " + name + " is already hosted");
    }
    if (q.getColumn(1).getString() != org &&
        (internal::InZone(name, other) || internal::InZone(other, name))) {
      return FailField(ErrorCode::kConflict, "name",
                       "zone " + name + " overlaps a zone hosted by another organization");
    }
  }
  return hp::core::Ok();
}

void InsertZone(SQLite::Database& db, const Zone& z) {
  SQLite::Statement ins(
      db,
      "INSERT INTO dns_zones (public_id, organization_id, name, default_ttl, soa_ttl, soa_mname, "
      "soa_rname, soa_serial, soa_refresh, soa_retry, soa_expire, soa_minimum, created_at, "
      "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  ins.bind(1, z.id);
  ins.bind(2, z.organization_id);
  ins.bind(3, z.name);
  ins.bind(4, static_cast<int64_t>(z.default_ttl));
  ins.bind(5, static_cast<int64_t>(z.soa.ttl));
  ins.bind(6, z.soa.mname);
  ins.bind(7, z.soa.rname);
  ins.bind(8, static_cast<int64_t>(z.soa.serial));
  ins.bind(9, static_cast<int64_t>(z.soa.refresh));
  ins.bind(10, static_cast<int64_t>(z.soa.retry));
  ins.bind(11, static_cast<int64_t>(z.soa.expire));
  ins.bind(12, static_cast<int64_t>(z.soa.minimum));
  ins.bind(13, hp::core::ToUnixMicros(z.created_at));
  ins.bind(14, hp::core::ToUnixMicros(z.updated_at));
  ins.exec();
}

template <typename F>
auto Guard(F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInternal, std::string("dns store: ") + e.what());
  }
}

}  // namespace

std::string_view RecordTypeName(RecordType t) {
  switch (t) {
    case RecordType::kA: return "A";
    case RecordType::kAAAA: return "AAAA";
    case RecordType::kCNAME: return "CNAME";
    case RecordType::kMX: return "MX";
    case RecordType::kTXT: return "TXT";
    case RecordType::kCAA: return "CAA";
    case RecordType::kNS: return "NS";
    case RecordType::kSRV: return "SRV";
    case RecordType::kPTR: return "PTR";
  }
  return "?";
}

Result<RecordType> ParseRecordType(std::string_view s) {
  std::string up(s);
  for (char& c : up) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  for (RecordType t : kAllTypes) {
    if (RecordTypeName(t) == up) return t;
  }
  return FailField(ErrorCode::kInvalidArgument, "type",
                   "unsupported record type '" + std::string(s) +
                       "' (A, AAAA, CNAME, MX, TXT, CAA, NS, SRV, PTR)");
}

ZoneService::ZoneService(hp::core::Database& db, const hp::core::Clock& clock,
                         ZoneServiceOptions options, std::unique_ptr<hp::core::IdSource> ids)
    : db_(db), clock_(clock), options_(std::move(options)), ids_(std::move(ids)) {
  if (!ids_) ids_ = std::make_unique<hp::core::RandomIdSource>();
}

void ZoneService::AddObserver(ZoneObserver observer) {
  std::lock_guard lock(observers_mu_);
  observers_.push_back(std::move(observer));
}

void ZoneService::Notify(const ZoneChange& change) {
  std::vector<ZoneObserver> copy;
  {
    std::lock_guard lock(observers_mu_);
    copy = observers_;
  }
  for (auto& o : copy) o(change);
}

Result<Record> ZoneService::ValidateRecord(const Zone& zone, const RecordSpec& spec) const {
  Record r;
  HP_ASSIGN_OR_RETURN(r.type, ParseRecordType(spec.type));
  HP_ASSIGN_OR_RETURN(r.name, internal::QualifyOwner(spec.name, zone.name));
  r.ttl = spec.ttl.value_or(zone.default_ttl);
  if (r.ttl > kMaxTtl || r.ttl < options_.min_ttl) {
    return FailField(ErrorCode::kInvalidArgument, "ttl",
                     "ttl must be between " + std::to_string(options_.min_ttl) + " and " +
                         std::to_string(kMaxTtl));
  }
  if (r.type == RecordType::kNS && r.name.starts_with("*.")) {
    return FailField(ErrorCode::kInvalidArgument, "name", "NS records may not be wildcards");
  }
  HP_ASSIGN_OR_RETURN(r.data, internal::CanonicalRdata(r.type, spec.data, r.name));
  r.zone_id = zone.id;
  return r;
}

Result<Zone> ZoneService::CreateZone(const std::string& org, const ZoneSpec& spec) {
  if (org.empty()) return FailField(ErrorCode::kInvalidArgument, "organization", "missing");
  HP_ASSIGN_OR_RETURN(std::string name, internal::NormalizeName(spec.name, "name"));
  if (name.find('.') == name.size() - 1 && name.size() < 2) {
    return FailField(ErrorCode::kInvalidArgument, "name", "not a zone name");
  }
  uint32_t ttl = spec.default_ttl.value_or(options_.default_ttl);
  if (ttl > kMaxTtl || ttl < options_.min_ttl) {
    return FailField(ErrorCode::kInvalidArgument, "default_ttl", "out of range");
  }
  std::vector<std::string> ns;
  const auto& src = spec.nameservers.empty() ? options_.default_nameservers : spec.nameservers;
  for (size_t i = 0; i < src.size(); ++i) {
    HP_ASSIGN_OR_RETURN(std::string n, internal::NormalizeName(
                                           src[i], "nameservers/" + std::to_string(i)));
    ns.push_back(n);
  }
  if (ns.empty()) return FailField(ErrorCode::kInvalidArgument, "nameservers", "none given");
  Zone z;
  z.id = ids_->NewId();
  z.organization_id = org;
  z.name = name;
  z.default_ttl = ttl;
  z.soa.ttl = ttl;
  z.soa.mname = ns[0];
  z.soa.rname = options_.hostmaster.empty() ? "hostmaster." + name : options_.hostmaster;
  z.soa.serial = 1;
  z.created_at = z.updated_at = clock_.Now();
  std::vector<Record> added;
  for (const auto& n : ns) {
    Record r;
    r.id = ids_->NewId();
    r.zone_id = z.id;
    r.name = name;
    r.type = RecordType::kNS;
    r.ttl = ttl;
    r.data = n;
    added.push_back(r);
  }
  HP_TRY(db_.Write([&](SQLite::Database& db) -> Status {
    return Guard([&]() -> Status {
      HP_TRY(CheckOverlap(db, org, name));
      InsertZone(db, z);
      int64_t rowid = db.getLastInsertRowid();
      for (const auto& r : added) InsertRecord(db, rowid, r, z.created_at);
      return hp::core::Ok();
    });
  }));
  Notify({ChangeKind::kZoneCreated, z.name, org, z.soa.serial, added, {}});
  return z;
}

Result<std::vector<Zone>> ZoneService::ListZones(const std::string& org) {
  return db_.Read([&](SQLite::Database& db) -> Result<std::vector<Zone>> {
    return Guard([&]() -> Result<std::vector<Zone>> {
      SQLite::Statement q(db, std::string("SELECT ") + kZoneColumns +
                                  " FROM dns_zones WHERE organization_id = ? ORDER BY name");
      q.bind(1, org);
      std::vector<Zone> out;
      while (q.executeStep()) out.push_back(ReadZone(q).zone);
      return out;
    });
  });
}

Result<Zone> ZoneService::GetZone(const std::string& org, const std::string& zone_id) {
  return db_.Read([&](SQLite::Database& db) -> Result<Zone> {
    return Guard([&]() -> Result<Zone> {
      HP_ASSIGN_OR_RETURN(ZoneRow row, FindZone(db, org, zone_id));
      return row.zone;
    });
  });
}

Status ZoneService::DeleteZone(const std::string& org, const std::string& zone_id) {
  std::string name;
  HP_TRY(db_.Write([&](SQLite::Database& db) -> Status {
    return Guard([&]() -> Status {
      HP_ASSIGN_OR_RETURN(ZoneRow row, FindZone(db, org, zone_id));
      name = row.zone.name;
      SQLite::Statement d1(db, "DELETE FROM dns_records WHERE zone_id = ?");
      d1.bind(1, row.rowid);
      d1.exec();
      SQLite::Statement d2(db, "DELETE FROM dns_zones WHERE id = ?");
      d2.bind(1, row.rowid);
      d2.exec();
      return hp::core::Ok();
    });
  }));
  Notify({ChangeKind::kZoneDeleted, name, org, 0, {}, {}});
  return hp::core::Ok();
}

Result<std::vector<Record>> ZoneService::ListRecords(const std::string& org,
                                                     const std::string& zone_id) {
  return db_.Read([&](SQLite::Database& db) -> Result<std::vector<Record>> {
    return Guard([&]() -> Result<std::vector<Record>> {
      HP_ASSIGN_OR_RETURN(ZoneRow row, FindZone(db, org, zone_id));
      return RecordsOf(db, row.rowid, row.zone.id);
    });
  });
}

Result<Record> ZoneService::AddRecord(const std::string& org, const std::string& zone_id,
                                      const RecordSpec& spec) {
  Record rec;
  ZoneChange change;
  HP_TRY(db_.Write([&](SQLite::Database& db) -> Status {
    return Guard([&]() -> Status {
      HP_ASSIGN_OR_RETURN(ZoneRow row, FindZone(db, org, zone_id));
      HP_ASSIGN_OR_RETURN(rec, ValidateRecord(row.zone, spec));
      rec.id = ids_->NewId();
      HP_TRY(CheckAgainst(row.zone, rec, RecordsOf(db, row.rowid, row.zone.id, &rec.name), ""));
      SQLite::Statement cnt(db, "SELECT COUNT(*) FROM dns_records WHERE zone_id = ?");
      cnt.bind(1, row.rowid);
      cnt.executeStep();
      if (static_cast<size_t>(cnt.getColumn(0).getInt64()) >= options_.max_records_per_zone) {
        return Fail(ErrorCode::kConflict, "the zone holds the maximum number of records");
      }
      InsertRecord(db, row.rowid, rec, clock_.Now());
      uint32_t serial = static_cast<uint32_t>(BumpSerial(db, row.rowid, row.zone.soa.serial,
                                                         clock_.Now()));
      change = {ChangeKind::kRecordsChanged, row.zone.name, org, serial, {rec}, {}};
      return hp::core::Ok();
    });
  }));
  Notify(change);
  return rec;
}

Result<Record> ZoneService::UpdateRecord(const std::string& org, const std::string& zone_id,
                                         const std::string& record_id, const RecordSpec& spec) {
  Record rec;
  ZoneChange change;
  HP_TRY(db_.Write([&](SQLite::Database& db) -> Status {
    return Guard([&]() -> Status {
      HP_ASSIGN_OR_RETURN(ZoneRow row, FindZone(db, org, zone_id));
      SQLite::Statement q(db,
                          "SELECT public_id, name, type, ttl, data FROM dns_records "
                          "WHERE zone_id = ? AND public_id = ?");
      q.bind(1, row.rowid);
      q.bind(2, record_id);
      if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "record " + record_id + " not found");
      Record old = ReadRecord(q, row.zone.id);
      HP_ASSIGN_OR_RETURN(rec, ValidateRecord(row.zone, spec));
      rec.id = old.id;
      std::vector<Record> at = RecordsOf(db, row.rowid, row.zone.id, &rec.name);
      // The RRset TTL rule applies to the rest of the RRset; changing a lone record's TTL is fine.
      HP_TRY(CheckAgainst(row.zone, rec, at, old.id));
      SQLite::Statement d(db, "DELETE FROM dns_records WHERE zone_id = ? AND public_id = ?");
      d.bind(1, row.rowid);
      d.bind(2, record_id);
      d.exec();
      InsertRecord(db, row.rowid, rec, clock_.Now());
      uint32_t serial = static_cast<uint32_t>(BumpSerial(db, row.rowid, row.zone.soa.serial,
                                                         clock_.Now()));
      change = {ChangeKind::kRecordsChanged, row.zone.name, org, serial, {rec}, {old}};
      return hp::core::Ok();
    });
  }));
  Notify(change);
  return rec;
}

Status ZoneService::DeleteRecord(const std::string& org, const std::string& zone_id,
                                 const std::string& record_id) {
  ZoneChange change;
  HP_TRY(db_.Write([&](SQLite::Database& db) -> Status {
    return Guard([&]() -> Status {
      HP_ASSIGN_OR_RETURN(ZoneRow row, FindZone(db, org, zone_id));
      SQLite::Statement q(db,
                          "SELECT public_id, name, type, ttl, data FROM dns_records "
                          "WHERE zone_id = ? AND public_id = ?");
      q.bind(1, row.rowid);
      q.bind(2, record_id);
      if (!q.executeStep()) return Fail(ErrorCode::kNotFound, "record " + record_id + " not found");
      Record old = ReadRecord(q, row.zone.id);
      if (old.type == RecordType::kNS && old.name == row.zone.name) {
        int ns = 0;
        for (const auto& r : RecordsOf(db, row.rowid, row.zone.id, &old.name)) {
          ns += r.type == RecordType::kNS;
        }
        if (ns <= 1) {
          return Fail(ErrorCode::kConflict, "a zone needs at least one NS record at its apex");
        }
      }
      SQLite::Statement d(db, "DELETE FROM dns_records WHERE zone_id = ? AND public_id = ?");
      d.bind(1, row.rowid);
      d.bind(2, record_id);
      d.exec();
      uint32_t serial = static_cast<uint32_t>(BumpSerial(db, row.rowid, row.zone.soa.serial,
                                                         clock_.Now()));
      change = {ChangeKind::kRecordsChanged, row.zone.name, org, serial, {}, {old}};
      return hp::core::Ok();
    });
  }));
  Notify(change);
  return hp::core::Ok();
}

Result<Zone> ZoneService::ImportZoneFile(const std::string& org, const std::string& zone_name,
                                         const std::string& text) {
  HP_ASSIGN_OR_RETURN(std::string name, internal::NormalizeName(zone_name, "name"));
  FILE* fp = fmemopen(const_cast<char*>(text.data()), text.size(), "r");
  if (!fp) return Fail(ErrorCode::kInternal, "fmemopen failed");
  internal::RdfPtr origin = internal::MakeDname(name);
  ldns_zone* lz = nullptr;
  int line = 0;
  ldns_status st = ldns_zone_new_frm_fp_l(&lz, fp, origin.get(), options_.default_ttl,
                                          LDNS_RR_CLASS_IN, &line);
  fclose(fp);
  if (st != LDNS_STATUS_OK) {
    return FailField(ErrorCode::kInvalidArgument, "zonefile",
                     "line " + std::to_string(line) + ": " + ldns_get_errorstr_by_id(st));
  }
  std::unique_ptr<ldns_zone, internal::LdnsDeleter<ldns_zone_deep_free>> zone_holder(lz);
  const ldns_rr* soa = ldns_zone_soa(lz);
  if (!soa || internal::DnameToString(ldns_rr_owner(soa)) != name) {
    return FailField(ErrorCode::kInvalidArgument, "zonefile", "no SOA record at " + name);
  }
  Zone z;
  z.id = ids_->NewId();
  z.organization_id = org;
  z.name = name;
  z.default_ttl = ldns_rr_ttl(soa);
  z.soa.ttl = ldns_rr_ttl(soa);
  z.soa.mname = internal::DnameToString(ldns_rr_rdf(soa, 0));
  z.soa.rname = internal::DnameToString(ldns_rr_rdf(soa, 1));
  z.soa.serial = ldns_rdf2native_int32(ldns_rr_rdf(soa, 2));
  z.soa.refresh = ldns_rdf2native_int32(ldns_rr_rdf(soa, 3));
  z.soa.retry = ldns_rdf2native_int32(ldns_rr_rdf(soa, 4));
  z.soa.expire = ldns_rdf2native_int32(ldns_rr_rdf(soa, 5));
  z.soa.minimum = ldns_rdf2native_int32(ldns_rr_rdf(soa, 6));
  z.created_at = z.updated_at = clock_.Now();
  std::vector<Record> records;
  std::map<std::string, std::vector<Record>> by_name;
  const ldns_rr_list* rrs = ldns_zone_rrs(lz);
  for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(rrs, i);
    std::string owner = internal::DnameToString(ldns_rr_owner(rr));
    std::string type = internal::TypeToString(ldns_rr_get_type(rr));
    RecordSpec spec{owner, type, ldns_rr_ttl(rr), internal::RrDataToString(rr)};
    auto r = ValidateRecord(z, spec);
    if (!r) {
      hp::core::Error e = r.error();
      e.detail = owner + " " + type + ": " + e.detail;
      return Fail(std::move(e));
    }
    r->id = ids_->NewId();
    auto& at = by_name[r->name];
    Status ok = CheckAgainst(z, *r, at, "");
    if (!ok && ok.error().code != ErrorCode::kInvalidArgument) {  // TTL disagreement tolerated
      hp::core::Error e = ok.error();
      e.detail = owner + " " + type + ": " + e.detail;
      return Fail(std::move(e));
    }
    at.push_back(*r);
    records.push_back(*r);
  }
  if (records.size() > options_.max_records_per_zone) {
    return Fail(ErrorCode::kInvalidArgument, "the zone file has too many records");
  }
  HP_TRY(db_.Write([&](SQLite::Database& db) -> Status {
    return Guard([&]() -> Status {
      HP_TRY(CheckOverlap(db, org, name));
      InsertZone(db, z);
      int64_t rowid = db.getLastInsertRowid();
      for (const auto& r : records) InsertRecord(db, rowid, r, z.created_at);
      return hp::core::Ok();
    });
  }));
  Notify({ChangeKind::kZoneCreated, z.name, org, z.soa.serial, records, {}});
  return z;
}

Result<std::string> ZoneService::ExportZoneFile(const std::string& org,
                                                const std::string& zone_id) {
  HP_ASSIGN_OR_RETURN(Zone z, GetZone(org, zone_id));
  HP_ASSIGN_OR_RETURN(std::vector<Record> recs, ListRecords(org, zone_id));
  std::string out = "$ORIGIN " + z.name + "\n";
  out += z.name + " " + std::to_string(z.soa.ttl) + " IN SOA " + z.soa.mname + " " +
         z.soa.rname + " " + std::to_string(z.soa.serial) + " " + std::to_string(z.soa.refresh) +
         " " + std::to_string(z.soa.retry) + " " + std::to_string(z.soa.expire) + " " +
         std::to_string(z.soa.minimum) + "\n";
  for (const auto& r : recs) {
    out += r.name + " " + std::to_string(r.ttl) + " IN " + std::string(RecordTypeName(r.type)) +
           " " + r.data + "\n";
  }
  return out;
}

Result<std::vector<ZoneContents>> ZoneService::LoadAll() {
  return db_.Read([&](SQLite::Database& db) -> Result<std::vector<ZoneContents>> {
    return Guard([&]() -> Result<std::vector<ZoneContents>> {
      SQLite::Statement q(db, std::string("SELECT ") + kZoneColumns + " FROM dns_zones");
      std::vector<ZoneContents> out;
      std::vector<int64_t> rowids;
      while (q.executeStep()) {
        ZoneRow row = ReadZone(q);
        rowids.push_back(row.rowid);
        out.push_back({row.zone, {}});
      }
      for (size_t i = 0; i < out.size(); ++i) {
        out[i].records = RecordsOf(db, rowids[i], out[i].zone.id);
      }
      return out;
    });
  });
}

Result<std::optional<ZoneContents>> ZoneService::LoadByName(const std::string& zone_name) {
  std::string name = ToLower(zone_name);
  if (name.empty() || name.back() != '.') name += '.';
  return db_.Read([&](SQLite::Database& db) -> Result<std::optional<ZoneContents>> {
    return Guard([&]() -> Result<std::optional<ZoneContents>> {
      HP_ASSIGN_OR_RETURN(auto row, FindZoneByName(db, name));
      if (!row) return std::optional<ZoneContents>();
      return std::optional<ZoneContents>(
          ZoneContents{row->zone, RecordsOf(db, row->rowid, row->zone.id)});
    });
  });
}

}  // namespace hp::dns
