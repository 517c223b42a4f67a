#include "hp/dns/zone.h"

namespace hp::dns {

using hp::core::ErrorCode;
using hp::core::FailField;
using hp::core::Json;
using hp::core::Result;
namespace http = hp::core::http;

Json ZoneToJson(const Zone& z) {
  return Json{{"id", z.id},
              {"name", z.name},
              {"default_ttl", z.default_ttl},
              {"serial", z.soa.serial},
              {"soa",
               {{"ttl", z.soa.ttl},
                {"mname", z.soa.mname},
                {"rname", z.soa.rname},
                {"serial", z.soa.serial},
                {"refresh", z.soa.refresh},
                {"retry", z.soa.retry},
                {"expire", z.soa.expire},
                {"minimum", z.soa.minimum}}},
              {"created_at", hp::core::FormatRfc3339(z.created_at)},
              {"updated_at", hp::core::FormatRfc3339(z.updated_at)}};
}

Json RecordToJson(const Record& r) {
  return Json{{"id", r.id},
              {"name", r.name},
              {"type", std::string(RecordTypeName(r.type))},
              {"ttl", r.ttl},
              {"data", r.data}};
}

namespace {
Result<std::optional<uint32_t>> OptionalTtl(const Json& j, std::string_view key) {
  HP_ASSIGN_OR_RETURN(auto v, hp::core::GetOptionalInt(j, key));
  if (!v) return std::optional<uint32_t>();
  if (*v < 0 || *v > 2147483647) {
    return FailField(ErrorCode::kInvalidArgument, std::string(key), "out of range");
  }
  return std::optional<uint32_t>(static_cast<uint32_t>(*v));
}
}  // namespace

Result<ZoneSpec> ZoneSpecFromJson(const Json& j) {
  if (!j.is_object()) return FailField(ErrorCode::kInvalidArgument, "", "expected an object");
  ZoneSpec s;
  HP_ASSIGN_OR_RETURN(s.name, hp::core::GetString(j, "name"));
  HP_ASSIGN_OR_RETURN(s.default_ttl, OptionalTtl(j, "default_ttl"));
  if (j.contains("nameservers")) {
    const Json& ns = j["nameservers"];
    if (!ns.is_array()) {
      return FailField(ErrorCode::kInvalidArgument, "nameservers", "expected an array");
    }
    for (size_t i = 0; i < ns.size(); ++i) {
      if (!ns[i].is_string()) {
        return FailField(ErrorCode::kInvalidArgument, "nameservers/" + std::to_string(i),
                         "expected a string");
      }
      s.nameservers.push_back(ns[i].get<std::string>());
    }
  }
  return s;
}

Result<RecordSpec> RecordSpecFromJson(const Json& j) {
  if (!j.is_object()) return FailField(ErrorCode::kInvalidArgument, "", "expected an object");
  RecordSpec s;
  HP_ASSIGN_OR_RETURN(s.name, hp::core::GetString(j, "name"));
  HP_ASSIGN_OR_RETURN(s.type, hp::core::GetString(j, "type"));
  HP_ASSIGN_OR_RETURN(s.ttl, OptionalTtl(j, "ttl"));
  HP_ASSIGN_OR_RETURN(s.data, hp::core::GetString(j, "data"));
  return s;
}

void RegisterZoneRoutes(http::Router& router, ZoneService& svc, OrganizationOf org_of) {
  auto wrap = [org_of](auto fn) {
    return [org_of, fn](const http::Request& req) -> http::Response {
      auto org = org_of(req);
      if (!org) return http::Response::FromError(org.error());
      auto res = fn(*org, req);
      if (!res) return http::Response::FromError(res.error());
      return *res;
    };
  };
  using R = Result<http::Response>;
  router.AddSync({"GET", "/api/v1/zones", "List hosted DNS zones", "dns", "dns:read"},
                 wrap([&svc](const std::string& org, const http::Request&) -> R {
                   HP_ASSIGN_OR_RETURN(auto zones, svc.ListZones(org));
                   Json arr = Json::array();
                   for (const auto& z : zones) arr.push_back(ZoneToJson(z));
                   return http::Response::Json(200, Json{{"zones", arr}});
                 }));
  router.AddSync({"POST", "/api/v1/zones", "Create a hosted DNS zone", "dns", "dns:write"},
                 wrap([&svc](const std::string& org, const http::Request& req) -> R {
                   HP_ASSIGN_OR_RETURN(Json body, hp::core::ParseJsonObject(req.body));
                   HP_ASSIGN_OR_RETURN(ZoneSpec spec, ZoneSpecFromJson(body));
                   HP_ASSIGN_OR_RETURN(Zone z, svc.CreateZone(org, spec));
                   return http::Response::Json(201, ZoneToJson(z))
                       .SetHeader("Location", "/api/v1/zones/" + z.id);
                 }));
  router.AddSync({"GET", "/api/v1/zones/{zone}", "Get a hosted DNS zone", "dns", "dns:read"},
                 wrap([&svc](const std::string& org, const http::Request& req) -> R {
                   HP_ASSIGN_OR_RETURN(Zone z, svc.GetZone(org, req.Param("zone")));
                   return http::Response::Json(200, ZoneToJson(z));
                 }));
  router.AddSync({"DELETE", "/api/v1/zones/{zone}", "Delete a hosted DNS zone", "dns",
                  "dns:write"},
                 wrap([&svc](const std::string& org, const http::Request& req) -> R {
                   HP_TRY(svc.DeleteZone(org, req.Param("zone")));
                   return http::Response::Empty(204);
                 }));
  router.AddSync({"GET", "/api/v1/zones/{zone}/records", "List records", "dns", "dns:read"},
                 wrap([&svc](const std::string& org, const http::Request& req) -> R {
                   HP_ASSIGN_OR_RETURN(auto recs, svc.ListRecords(org, req.Param("zone")));
                   Json arr = Json::array();
                   for (const auto& r : recs) arr.push_back(RecordToJson(r));
                   return http::Response::Json(200, Json{{"records", arr}});
                 }));
  router.AddSync({"POST", "/api/v1/zones/{zone}/records", "Add a record", "dns", "dns:write"},
                 wrap([&svc](const std::string& org, const http::Request& req) -> R {
                   HP_ASSIGN_OR_RETURN(Json body, hp::core::ParseJsonObject(req.body));
                   HP_ASSIGN_OR_RETURN(RecordSpec spec, RecordSpecFromJson(body));
                   HP_ASSIGN_OR_RETURN(Record r, svc.AddRecord(org, req.Param("zone"), spec));
                   return http::Response::Json(201, RecordToJson(r));
                 }));
  router.AddSync({"PUT", "/api/v1/zones/{zone}/records/{record}", "Replace a record", "dns",
                  "dns:write"},
                 wrap([&svc](const std::string& org, const http::Request& req) -> R {
                   HP_ASSIGN_OR_RETURN(Json body, hp::core::ParseJsonObject(req.body));
                   HP_ASSIGN_OR_RETURN(RecordSpec spec, RecordSpecFromJson(body));
                   HP_ASSIGN_OR_RETURN(Record r, svc.UpdateRecord(org, req.Param("zone"),
                                                                  req.Param("record"), spec));
                   return http::Response::Json(200, RecordToJson(r));
                 }));
  router.AddSync({"DELETE", "/api/v1/zones/{zone}/records/{record}", "Delete a record", "dns",
                  "dns:write"},
                 wrap([&svc](const std::string& org, const http::Request& req) -> R {
                   HP_TRY(svc.DeleteRecord(org, req.Param("zone"), req.Param("record")));
                   return http::Response::Empty(204);
                 }));
  router.AddSync({"GET", "/api/v1/zones/{zone}/export", "Zone file", "dns", "dns:read", true, {},
                  {}, "text/dns"},
                 wrap([&svc](const std::string& org, const http::Request& req) -> R {
                   HP_ASSIGN_OR_RETURN(std::string text,
                                       svc.ExportZoneFile(org, req.Param("zone")));
                   return http::Response(200, "text/dns", text);
                 }));
}

}  // namespace hp::dns
