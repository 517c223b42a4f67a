#include "audit_log.h"

#include "hp/core/encoding.h"
#include "hp/core/openssl.h"

namespace hp::cp {
namespace {

std::string Canonical(int64_t seq, int64_t ts, const core::AuditEvent& e, const std::string& detail,
                      const std::string& prev) {
  core::Json j = core::Json::array({seq, ts, e.actor_type, e.actor_id, e.organization_id, e.partner_id,
                                    e.action, e.target, e.source_ip, e.result, detail, e.request_id, prev});
  return j.dump(-1, ' ', false, core::Json::error_handler_t::replace);
}

std::string HashHex(const std::string& s) { return core::HexEncode(core::AsBytes(core::ossl::Sha256(s))); }

AuditRow ReadRow(SQLite::Statement& q) {
  AuditRow r;
  r.seq = q.getColumn(0).getInt64();
  r.ts = core::FromUnixMicros(q.getColumn(1).getInt64());
  r.event.actor_type = q.getColumn(2).getString();
  r.event.actor_id = q.getColumn(3).getString();
  r.event.organization_id = q.getColumn(4).getString();
  r.event.partner_id = q.getColumn(5).getString();
  r.event.action = q.getColumn(6).getString();
  r.event.target = q.getColumn(7).getString();
  r.event.source_ip = q.getColumn(8).getString();
  r.event.result = q.getColumn(9).getString();
  r.event.detail = core::Json::parse(q.getColumn(10).getString(), nullptr, false);
  r.event.request_id = q.getColumn(11).getString();
  r.prev_hash = q.getColumn(12).getString();
  r.hash = q.getColumn(13).getString();
  return r;
}

constexpr const char* kCols =
    "seq, ts, actor_type, actor_id, organization_id, partner_id, action, target, source_ip, result, detail, "
    "request_id, prev_hash, hash";

}  // namespace

core::Status ChainedAuditLog::Append(SQLite::Database& tx, const core::AuditEvent& e) {
  if (e.action.empty()) return core::Fail(core::ErrorCode::kInternal, "audit event without action");
  SQLite::Statement head(tx, "SELECT seq, hash FROM audit_head WHERE id=1");
  if (!head.executeStep()) return core::Fail(core::ErrorCode::kInternal, "audit_head missing");
  // One writer at a time (BEGIN IMMEDIATE), so the next sequence number is the head's plus one.
  const int64_t seq = head.getColumn(0).getInt64() + 1;
  const std::string prev = head.getColumn(1).getString();
  head.reset();
  const int64_t ts = core::ToUnixMicros(clock_.Now());
  const std::string detail = e.detail.is_null() ? "{}" : e.detail.dump(-1, ' ', false, core::Json::error_handler_t::replace);
  const std::string hash = HashHex(Canonical(seq, ts, e, detail, prev));
  SQLite::Statement ins(tx, std::string("INSERT INTO audit_events(") +
                                "seq, ts, actor_type, actor_id, organization_id, partner_id, action, target, source_ip, "
                                "result, detail, request_id, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  int i = 1;
  ins.bind(i++, static_cast<int64_t>(seq));
  ins.bind(i++, static_cast<int64_t>(ts));
  for (const std::string* s : {&e.actor_type, &e.actor_id, &e.organization_id, &e.partner_id, &e.action, &e.target,
                               &e.source_ip, &e.result})
    ins.bind(i++, *s);
  ins.bind(i++, detail);
  ins.bind(i++, e.request_id);
  ins.bind(i++, prev);
  ins.bind(i++, hash);
  ins.exec();
  SQLite::Statement h(tx, "UPDATE audit_head SET seq=?, hash=? WHERE id=1");
  h.bind(1, static_cast<int64_t>(seq));
  h.bind(2, hash);
  h.exec();
  return core::Ok();
}

core::Result<AuditVerifyResult> ChainedAuditLog::Verify(core::Database& db) {
  return db.Read([&](SQLite::Database& c) -> core::Result<AuditVerifyResult> {
    AuditVerifyResult r;
    SQLite::Statement q(c, std::string("SELECT ") + kCols + " FROM audit_events ORDER BY seq");
    std::string prev;
    int64_t expect_seq = 0;
    bool first = true;
    while (q.executeStep()) {
      AuditRow row = ReadRow(q);
      std::string detail = q.getColumn(10).getString();
      ++r.rows;
      if (!first && row.seq != expect_seq) {
        r.ok = false;
        r.bad_seq = row.seq;
        r.reason = "rows " + std::to_string(expect_seq) + ".." + std::to_string(row.seq - 1) + " are missing (deleted)";
        return r;
      }
      if (!first && row.prev_hash != prev) {
        r.ok = false;
        r.bad_seq = row.seq;
        r.reason = "row " + std::to_string(row.seq) + " does not chain to the row before it";
        return r;
      }
      if (HashHex(Canonical(row.seq, core::ToUnixMicros(row.ts), row.event, detail, row.prev_hash)) != row.hash) {
        r.ok = false;
        r.bad_seq = row.seq;
        r.reason = "row " + std::to_string(row.seq) + " was modified (hash mismatch)";
        return r;
      }
      prev = row.hash;
      expect_seq = row.seq + 1;
      first = false;
    }
    SQLite::Statement h(c, "SELECT seq, hash FROM audit_head WHERE id=1");
    if (h.executeStep()) {
      int64_t head_seq = h.getColumn(0).getInt64();
      std::string head_hash = h.getColumn(1).getString();
      int64_t last = first ? 0 : expect_seq - 1;
      if (head_seq != last || head_hash != prev) {
        r.ok = false;
        r.bad_seq = head_seq;
        r.reason = head_seq > last ? "rows after " + std::to_string(last) + " up to " + std::to_string(head_seq) +
                                         " are missing (deleted tail)"
                                   : "the log head does not match the last row";
      }
    }
    return r;
  });
}

core::Result<std::vector<AuditRow>> ChainedAuditLog::Query(core::Database& db, const AuditQuery& aq) {
  return db.Read([&](SQLite::Database& c) -> core::Result<std::vector<AuditRow>> {
    std::string sql = std::string("SELECT ") + kCols + " FROM audit_events WHERE seq > :after";
    if (!aq.organization_id.empty()) sql += " AND organization_id = :org";
    if (aq.from) sql += " AND ts >= :from";
    if (aq.to) sql += " AND ts < :to";
    if (!aq.action_prefix.empty()) sql += " AND action >= :ap AND action < :ap_end";
    sql += " ORDER BY seq LIMIT :limit";
    SQLite::Statement q(c, sql);
    q.bind(":after", static_cast<int64_t>(aq.after_seq));
    if (!aq.organization_id.empty()) q.bind(":org", aq.organization_id);
    if (aq.from) q.bind(":from", static_cast<int64_t>(core::ToUnixMicros(*aq.from)));
    if (aq.to) q.bind(":to", static_cast<int64_t>(core::ToUnixMicros(*aq.to)));
    if (!aq.action_prefix.empty()) {
      q.bind(":ap", aq.action_prefix);
      q.bind(":ap_end", aq.action_prefix + "\xff");
    }
    q.bind(":limit", aq.limit);
    std::vector<AuditRow> out;
    while (q.executeStep()) out.push_back(ReadRow(q));
    return out;
  });
}

std::string ChainedAuditLog::ToCsv(const std::vector<AuditRow>& rows) {
  auto field = [](const std::string& s) {
    // Quote always; double quotes; neutralise spreadsheet formulas (CSV injection).
    std::string v = s;
    if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@')) v = "'" + v;
    std::string o = "\"";
    for (char ch : v) {
      if (ch == '"') o += "\"\"";
      else o += ch;
    }
    return o + "\"";
  };
  std::string out = "seq,time,actor_type,actor_id,organization_id,partner_id,action,target,source_ip,result,detail,request_id,hash\r\n";
  for (const auto& r : rows) {
    const auto& e = r.event;
    out += std::to_string(r.seq) + "," + field(core::FormatRfc3339(r.ts)) + "," + field(e.actor_type) + "," +
           field(e.actor_id) + "," + field(e.organization_id) + "," + field(e.partner_id) + "," + field(e.action) +
           "," + field(e.target) + "," + field(e.source_ip) + "," + field(e.result) + "," +
           field(e.detail.dump(-1, ' ', false, core::Json::error_handler_t::replace)) + "," + field(e.request_id) +
           "," + field(r.hash) + "\r\n";
  }
  return out;
}

}  // namespace hp::cp
