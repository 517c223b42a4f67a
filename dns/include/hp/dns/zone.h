#pragma once
// Hosted DNS zones: zones and records owned by an organization, kept in the store, validated
// strictly on the way in. ZoneService is what the control plane exposes under /api/v1/zones; the
// authoritative server and the publisher observe its changes.
//
// Names: owner names and targets are handled as absolute, lower-case names with a trailing dot
// ("www.example.com."). Input may omit the trailing dot (names are then taken as absolute) and
// record owners may be given relative to the zone ("www", "@", "*.dev").
// Record data is the zone-file presentation of the RDATA ("10 mail.example.com." for MX,
// "0 issue \"ca.example\"" for CAA). TXT data that does not start with a quote is taken as one
// raw text and split into 255-byte character strings.
//
// Thread safety: ZoneService is safe to use from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/error.h"
#include "hp/core/http.h"
#include "hp/core/json.h"
#include "hp/core/random.h"
#include "hp/core/store.h"

namespace hp::dns {

// The dns module's schema (dns/src/sql), for Database::Migrate.
const hp::core::MigrationSet& DnsMigrations();

// Record types a hosted zone may hold (SOA is managed by the zone itself).
enum class RecordType { kA, kAAAA, kCNAME, kMX, kTXT, kCAA, kNS, kSRV, kPTR };
std::string_view RecordTypeName(RecordType t);  // "AAAA"
// Case-insensitive; kInvalidArgument naming field "type" for anything else.
hp::core::Result<RecordType> ParseRecordType(std::string_view s);

struct Soa {
  uint32_t ttl = 3600;
  std::string mname;  // primary server, absolute
  std::string rname;  // mailbox in domain form ("hostmaster.example.com.")
  uint32_t serial = 1;
  uint32_t refresh = 3600;
  uint32_t retry = 900;
  uint32_t expire = 1209600;
  uint32_t minimum = 300;
};

struct Zone {
  std::string id;               // public id
  std::string organization_id;  // owner
  std::string name;             // "example.com."
  uint32_t default_ttl = 3600;
  Soa soa;
  hp::core::TimePoint created_at;
  hp::core::TimePoint updated_at;
};

struct Record {
  std::string id;  // public id
  std::string zone_id;
  std::string name;  // absolute owner name
  RecordType type = RecordType::kA;
  uint32_t ttl = 0;
  std::string data;  // canonical presentation form
};

// Input of CreateZone.
struct ZoneSpec {
  std::string name;
  std::optional<uint32_t> default_ttl;
  // Apex NS records to create; empty: ZoneServiceOptions::default_nameservers.
  std::vector<std::string> nameservers;
};

// Input of AddRecord / UpdateRecord.
struct RecordSpec {
  std::string name;  // relative ("www", "@") or absolute
  std::string type;  // "A", "TXT", ...
  std::optional<uint32_t> ttl;  // default: the zone's default_ttl
  std::string data;
};

// A zone with every record, as the server and exporters need it.
struct ZoneContents {
  Zone zone;
  std::vector<Record> records;
};

enum class ChangeKind { kZoneCreated, kZoneDeleted, kRecordsChanged };
struct ZoneChange {
  ChangeKind kind = ChangeKind::kRecordsChanged;
  std::string zone_name;  // absolute
  std::string organization_id;
  uint32_t serial = 0;              // the new SOA serial (0 for deletions)
  std::vector<Record> added;        // records added by the change
  std::vector<Record> removed;      // records removed by the change
};
// Called after the change committed, on the thread that made it; must not call back into
// ZoneService synchronously with a write.
using ZoneObserver = std::function<void(const ZoneChange&)>;

struct ZoneServiceOptions {
  // SOA MNAME and default apex NS records of new zones.
  std::vector<std::string> default_nameservers = {"ns1.hostplane.invalid."};
  // SOA RNAME of new zones; empty: "hostmaster.<zone>".
  std::string hostmaster;
  uint32_t default_ttl = 3600;
  uint32_t min_ttl = 0;
  size_t max_records_per_zone = 10000;
};

class ZoneService {
 public:
  ZoneService(hp::core::Database& db, const hp::core::Clock& clock,
              ZoneServiceOptions options = {},
              std::unique_ptr<hp::core::IdSource> ids = nullptr);

  // Observers see every committed change (used by the authoritative server and the publisher).
  void AddObserver(ZoneObserver observer);

  // Zones. Every call is scoped by organization: another organization's zone is kNotFound.
  // A zone name can be hosted once across all organizations (kAlreadyExists).
  hp::core::Result<Zone> CreateZone(const std::string& org, const ZoneSpec& spec);
  hp::core::Result<std::vector<Zone>> ListZones(const std::string& org);
  hp::core::Result<Zone> GetZone(const std::string& org, const std::string& zone_id);
  hp::core::Status DeleteZone(const std::string& org, const std::string& zone_id);

  // Records. Each change bumps the zone's SOA serial by one (RFC 1982 arithmetic). Validation
  // errors are kInvalidArgument with `field` naming "name", "type", "ttl" or "data" (with a
  // sub-field such as "data.preference"). CNAME exclusivity: a name with a CNAME holds nothing
  // else and no CNAME at the apex (kConflict). Identical records are kAlreadyExists. Records of
  // one RRset share one TTL (kInvalidArgument on "ttl").
  hp::core::Result<std::vector<Record>> ListRecords(const std::string& org,
                                                    const std::string& zone_id);
  hp::core::Result<Record> AddRecord(const std::string& org, const std::string& zone_id,
                                     const RecordSpec& spec);
  hp::core::Result<Record> UpdateRecord(const std::string& org, const std::string& zone_id,
                                        const std::string& record_id, const RecordSpec& spec);
  hp::core::Status DeleteRecord(const std::string& org, const std::string& zone_id,
                                const std::string& record_id);

  // Zone files (RFC 1035 master format, as Knot/BIND read them). Import creates the zone with the
  // file's SOA and every record; an unsupported type or invalid record fails the whole import
  // with the line's owner and type in the detail.
  hp::core::Result<Zone> ImportZoneFile(const std::string& org, const std::string& zone_name,
                                        const std::string& text);
  hp::core::Result<std::string> ExportZoneFile(const std::string& org, const std::string& zone_id);

  // Unscoped reads for the server and the publisher (never exposed to customers).
  hp::core::Result<std::vector<ZoneContents>> LoadAll();
  hp::core::Result<std::optional<ZoneContents>> LoadByName(const std::string& zone_name);

 private:
  hp::core::Result<Record> ValidateRecord(const Zone& zone, const RecordSpec& spec) const;
  void Notify(const ZoneChange& change);

  hp::core::Database& db_;
  const hp::core::Clock& clock_;
  ZoneServiceOptions options_;
  std::unique_ptr<hp::core::IdSource> ids_;
  std::mutex observers_mu_;
  std::vector<ZoneObserver> observers_;
};

// JSON shapes of the API: {"id","name","default_ttl","serial","soa":{...},"created_at",...} and
// {"id","name","type","ttl","data"}.
hp::core::Json ZoneToJson(const Zone& z);
hp::core::Json RecordToJson(const Record& r);
hp::core::Result<ZoneSpec> ZoneSpecFromJson(const hp::core::Json& j);
hp::core::Result<RecordSpec> RecordSpecFromJson(const hp::core::Json& j);

// Registers /api/v1/zones routes:
//   GET/POST /api/v1/zones, GET/DELETE /api/v1/zones/{zone},
//   GET/POST /api/v1/zones/{zone}/records, PUT/DELETE /api/v1/zones/{zone}/records/{record},
//   GET /api/v1/zones/{zone}/export (text/dns).
// `organization_of` authenticates the request and returns the caller's organization id (the
// control plane's auth); its error is returned as is. Permissions named: "dns:read", "dns:write".
using OrganizationOf = std::function<hp::core::Result<std::string>(const hp::core::http::Request&)>;
void RegisterZoneRoutes(hp::core::http::Router& router, ZoneService& service,
                        OrganizationOf organization_of);

}  // namespace hp::dns
