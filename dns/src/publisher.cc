#include "hp/dns/publisher.h"

#include "hp/core/encoding.h"
#include "hp/core/log.h"
#include "ldns_util.h"
#include "names.h"
#include "net.h"

namespace hp::dns {

using hp::core::ErrorCode;
using hp::core::Fail;
using hp::core::FailField;
using hp::core::Json;
using hp::core::Result;
using hp::core::Status;
using namespace internal;  // NOLINT

namespace {

class Rfc2136Publisher final : public Publisher {
 public:
  Rfc2136Publisher(Rfc2136Options o, HostPort server)
      : options_(std::move(o)), server_(std::move(server)) {}

  Status Apply(const std::string& zone_in, const std::vector<RecordChange>& changes) override {
    HP_ASSIGN_OR_RETURN(std::string zone, NormalizeName(zone_in, "zone"));
    RrListPtr updates(ldns_rr_list_new());
    for (size_t i = 0; i < changes.size(); ++i) {
      const RecordChange& c = changes[i];
      std::string field = "changes/" + std::to_string(i);
      HP_ASSIGN_OR_RETURN(std::string owner,
                          NormalizeName(c.name, field + "/name", {.allow_wildcard = true}));
      if (!InZone(owner, zone)) {
        return FailField(ErrorCode::kInvalidArgument, field + "/name",
                         owner + " is not inside " + zone);
      }
      std::string text;
      if (c.op == RecordChange::Op::kDeleteRRset) {
        text = owner + " 0 ANY " + c.type;
      } else {
        HP_ASSIGN_OR_RETURN(RecordType t, ParseRecordType(c.type));
        HP_ASSIGN_OR_RETURN(std::string data, CanonicalRdata(t, c.data, owner));
        text = owner + " " + std::to_string(c.op == RecordChange::Op::kAdd ? c.ttl : 0) +
               (c.op == RecordChange::Op::kAdd ? " IN " : " NONE ") + c.type + " " + data;
      }
      ldns_rr* rr = nullptr;
      ldns_status st = ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr);
      if (st != LDNS_STATUS_OK) {
        return FailField(ErrorCode::kInvalidArgument, field,
                         std::string("cannot encode: ") + ldns_get_errorstr_by_id(st));
      }
      if (c.op == RecordChange::Op::kDeleteRRset) ldns_rr_set_class(rr, LDNS_RR_CLASS_ANY);
      if (c.op == RecordChange::Op::kDelete) ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
      ldns_rr_list_push_rr(updates.get(), rr);
    }
    PktPtr pkt(ldns_update_pkt_new(MakeDname(zone).release(), LDNS_RR_CLASS_IN, nullptr,
                                   updates.get(), nullptr));
    if (!pkt) return Fail(ErrorCode::kInternal, "cannot build UPDATE");
    ldns_pkt_set_id(pkt.get(), static_cast<uint16_t>(hp::core::RandomU64()));
    ResolverPtr res(ldns_resolver_new());
    RdfPtr addr(ldns_rdf_new_frm_str(
        server_.addr.ss_family == AF_INET ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA,
        server_.host.c_str()));
    ldns_resolver_push_nameserver(res.get(), addr.get());
    ldns_resolver_set_port(res.get(), server_.port);
    ldns_resolver_set_usevc(res.get(), true);  // UPDATEs can be large; TCP avoids truncation
    ldns_resolver_set_retry(res.get(), 1);
    timeval tv{};
    tv.tv_sec = options_.timeout.count() / 1000;
    tv.tv_usec = (options_.timeout.count() % 1000) * 1000;
    ldns_resolver_set_timeout(res.get(), tv);
    std::string secret(options_.tsig_secret_base64.Reveal());
    ldns_resolver_set_tsig_keyname(res.get(), options_.tsig_key_name.c_str());
    ldns_resolver_set_tsig_algorithm(res.get(), "hmac-sha256.");
    ldns_resolver_set_tsig_keydata(res.get(), secret.c_str());
    ldns_status st = ldns_update_pkt_tsig_add(pkt.get(), res.get());
    if (st != LDNS_STATUS_OK) {
      hp::core::SecureWipe(secret);
      return Fail(ErrorCode::kInternal, std::string("TSIG signing failed: ") +
                                            ldns_get_errorstr_by_id(st));
    }
    ldns_pkt* raw = nullptr;
    st = ldns_resolver_send_pkt(&raw, res.get(), pkt.get());
    PktPtr answer(raw);
    // The resolver holds copies; ours is wiped. (ldns frees its own with the resolver.)
    hp::core::SecureWipe(secret);
    std::string where = server_.host + ":" + std::to_string(server_.port);
    if (st == LDNS_STATUS_CRYPTO_TSIG_BOGUS || st == LDNS_STATUS_CRYPTO_TSIG_ERR) {
      return Fail(ErrorCode::kPermissionDenied,
                  "TSIG key '" + options_.tsig_key_name + "' rejected by " + where +
                      " (the answer was not signed with our key: wrong secret or unknown key)");
    }
    if (st != LDNS_STATUS_OK || !answer) {
      return Fail(ErrorCode::kUnavailable, "UPDATE of " + zone + " to " + where + " failed: " +
                                               ldns_get_errorstr_by_id(st));
    }
    ldns_pkt_rcode rc = ldns_pkt_get_rcode(answer.get());
    std::string rcs = TakeCString(ldns_pkt_rcode2str(rc));
    switch (rc) {
      case LDNS_RCODE_NOERROR:
        hp::core::log::Info("dns update applied",
                            {{"zone", zone}, {"server", where}, {"changes", changes.size()}});
        return hp::core::Ok();
      case LDNS_RCODE_NOTAUTH:
        return Fail(ErrorCode::kPermissionDenied,
                    "TSIG key '" + options_.tsig_key_name + "' rejected by " + where + " (" + rcs +
                        ")");
      case LDNS_RCODE_REFUSED:
        return Fail(ErrorCode::kPermissionDenied, where + " refused the UPDATE of " + zone +
                                                      " (ACL or zone not served there)");
      case LDNS_RCODE_NOTZONE:
      case LDNS_RCODE_FORMERR:
        return Fail(ErrorCode::kInvalidArgument, where + " answered " + rcs + " for " + zone);
      default:
        return Fail(ErrorCode::kUnavailable, where + " answered " + rcs + " for " + zone);
    }
  }

 private:
  Rfc2136Options options_;
  HostPort server_;
};

std::string_view OpName(RecordChange::Op op) {
  switch (op) {
    case RecordChange::Op::kAdd: return "add";
    case RecordChange::Op::kDelete: return "delete";
    case RecordChange::Op::kDeleteRRset: return "delete_rrset";
  }
  return "?";
}

}  // namespace

Result<std::unique_ptr<Publisher>> CreateRfc2136Publisher(Rfc2136Options options) {
  HP_ASSIGN_OR_RETURN(HostPort server, ParseHostPort(options.server, "dns.publish.server", 53));
  if (options.tsig_key_name.empty()) {
    return FailField(ErrorCode::kInvalidArgument, "dns.publish.tsig_key_name", "missing");
  }
  auto decoded = hp::core::Base64Decode(options.tsig_secret_base64.Reveal());
  if (!decoded || decoded->size() < 16) {
    return FailField(ErrorCode::kInvalidArgument, "dns.publish.tsig_secret",
                     "must be base64 of at least 16 bytes");
  }
  return std::unique_ptr<Publisher>(new Rfc2136Publisher(std::move(options), server));
}

Json ChangesToJson(const std::vector<RecordChange>& changes) {
  Json arr = Json::array();
  for (const auto& c : changes) {
    arr.push_back({{"op", std::string(OpName(c.op))},
                   {"name", c.name},
                   {"type", c.type},
                   {"ttl", c.ttl},
                   {"data", c.data}});
  }
  return arr;
}

Result<std::vector<RecordChange>> ChangesFromJson(const Json& j) {
  if (!j.is_array()) return FailField(ErrorCode::kInvalidArgument, "changes", "not an array");
  std::vector<RecordChange> out;
  for (const auto& e : j) {
    RecordChange c;
    HP_ASSIGN_OR_RETURN(std::string op, hp::core::GetString(e, "op"));
    if (op == "add") {
      c.op = RecordChange::Op::kAdd;
    } else if (op == "delete") {
      c.op = RecordChange::Op::kDelete;
    } else if (op == "delete_rrset") {
      c.op = RecordChange::Op::kDeleteRRset;
    } else {
      return FailField(ErrorCode::kInvalidArgument, "op", "unknown op " + op);
    }
    HP_ASSIGN_OR_RETURN(c.name, hp::core::GetString(e, "name"));
    HP_ASSIGN_OR_RETURN(c.type, hp::core::GetString(e, "type"));
    HP_ASSIGN_OR_RETURN(auto ttl, hp::core::GetOptionalInt(e, "ttl"));
    c.ttl = static_cast<uint32_t>(ttl.value_or(300));
    HP_ASSIGN_OR_RETURN(auto data, hp::core::GetOptionalString(e, "data"));
    c.data = data.value_or("");
    out.push_back(std::move(c));
  }
  return out;
}

Result<hp::core::Job> EnqueuePublish(hp::core::JobQueue& queue, const std::string& zone,
                                     const std::vector<RecordChange>& changes,
                                     const hp::core::EnqueueOptions& options) {
  return queue.Enqueue(kPublishJobKind, Json{{"zone", zone}, {"changes", ChangesToJson(changes)}},
                       options);
}

void RegisterPublishJobs(hp::core::WorkerPool& pool, Publisher& publisher) {
  pool.Register(kPublishJobKind, [&publisher](hp::core::JobContext& ctx) -> Result<Json> {
    const Json& p = ctx.job().payload;
    HP_ASSIGN_OR_RETURN(std::string zone, hp::core::GetString(p, "zone"));
    if (!p.contains("changes")) {
      return FailField(ErrorCode::kInvalidArgument, "changes", "missing");
    }
    HP_ASSIGN_OR_RETURN(auto changes, ChangesFromJson(p["changes"]));
    HP_TRY(publisher.Apply(zone, changes));
    return Json{{"zone", zone}, {"applied", changes.size()}};
  });
}

bool OnlyAcmeChallenges(const std::string&, const Record& record) {
  return record.name.starts_with("_acme-challenge.") && record.type == RecordType::kTXT;
}

ZoneObserver MakePublishingObserver(hp::core::JobQueue& queue, PublishFilter filter) {
  return [&queue, filter](const ZoneChange& change) {
    if (change.kind == ChangeKind::kZoneDeleted) return;
    std::vector<RecordChange> out;
    for (const auto& r : change.removed) {
      if (filter(change.zone_name, r)) {
        out.push_back({RecordChange::Op::kDelete, r.name, std::string(RecordTypeName(r.type)),
                       0, r.data});
      }
    }
    for (const auto& r : change.added) {
      if (filter(change.zone_name, r)) {
        out.push_back({RecordChange::Op::kAdd, r.name, std::string(RecordTypeName(r.type)), r.ttl,
                       r.data});
      }
    }
    if (out.empty()) return;
    hp::core::EnqueueOptions opts;
    opts.organization_id = change.organization_id;
    opts.idempotency_key = change.zone_name + "#" + std::to_string(change.serial);
    auto job = EnqueuePublish(queue, change.zone_name, out, opts);
    if (!job) {
      hp::core::log::Error("dns: cannot enqueue publish job",
                           {{"zone", change.zone_name}, {"error", job.error().ToString()}});
    }
  };
}

}  // namespace hp::dns
