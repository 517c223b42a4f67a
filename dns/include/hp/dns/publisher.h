#pragma once
// Publishing hosted records to an external primary (Knot, BIND, PowerDNS) with RFC 2136 dynamic
// UPDATE signed with TSIG (hmac-sha256, RFC 8945). Used when a customer's zone, or only its
// `_acme-challenge` records, live on another authoritative server.
//
// Retries are durable jobs: EnqueuePublish() writes a "dns.publish" job; the composition root
// registers RegisterPublishJobs() on its WorkerPool. A rejected TSIG key or an UPDATE refused by
// the primary's ACL is permanent (kPermissionDenied: dead-lettered at once); timeouts and
// SERVFAIL are retried with the queue's backoff.
//
// Thread safety: Rfc2136Publisher::Apply may be called from several threads.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hp/core/error.h"
#include "hp/core/jobs.h"
#include "hp/core/secret.h"
#include "hp/dns/zone.h"

namespace hp::dns {

struct RecordChange {
  enum class Op { kAdd, kDelete, kDeleteRRset };
  Op op = Op::kAdd;
  std::string name;   // absolute owner name
  std::string type;   // "TXT", "A", ...
  uint32_t ttl = 300;  // for kAdd
  std::string data;   // presentation RDATA; empty for kDeleteRRset
};

class Publisher {
 public:
  virtual ~Publisher() = default;
  // Sends the changes to the primary of `zone` as one atomic UPDATE. Deleting a record that is
  // absent and adding one that exists are no-ops (RFC 2136 §3.4.2), so a retry is harmless.
  virtual hp::core::Status Apply(const std::string& zone,
                                 const std::vector<RecordChange>& changes) = 0;
};

struct Rfc2136Options {
  std::string server;  // "127.0.0.1:53" (the primary)
  std::string tsig_key_name;  // "hostplane-update"
  hp::core::Secret tsig_secret_base64;  // hmac-sha256 secret, base64
  std::chrono::milliseconds timeout{3000};
};

// kInvalidArgument naming "dns.publish.server" / "dns.publish.tsig_*" for bad options.
hp::core::Result<std::unique_ptr<Publisher>> CreateRfc2136Publisher(Rfc2136Options options);

// Durable jobs.
inline constexpr char kPublishJobKind[] = "dns.publish";
hp::core::Json ChangesToJson(const std::vector<RecordChange>& changes);
hp::core::Result<std::vector<RecordChange>> ChangesFromJson(const hp::core::Json& j);
hp::core::Result<hp::core::Job> EnqueuePublish(hp::core::JobQueue& queue, const std::string& zone,
                                               const std::vector<RecordChange>& changes,
                                               const hp::core::EnqueueOptions& options = {});
void RegisterPublishJobs(hp::core::WorkerPool& pool, Publisher& publisher);

// A ZoneService observer that enqueues a publish job for every change of a hosted zone whose
// records `filter` selects (e.g. only names starting with "_acme-challenge."). Zone deletions
// are not propagated (the external zone stays as the operator configured it).
using PublishFilter = std::function<bool(const std::string& zone, const Record& record)>;
ZoneObserver MakePublishingObserver(hp::core::JobQueue& queue, PublishFilter filter);
// Filter for "only ACME challenge records".
bool OnlyAcmeChallenges(const std::string& zone, const Record& record);

}  // namespace hp::dns
