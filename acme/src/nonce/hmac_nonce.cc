// Stateless HMAC nonces with a replay window in the store, redeemed with group commits.
#include <condition_variable>
#include <cstring>
#include <deque>
#include <atomic>
#include <mutex>

#include "hp/acme/nonce.h"
#include "hp/core/encoding.h"
#include "hp/core/log.h"
#include "hp/core/openssl.h"
#include "hp/core/random.h"
#include "hp/core/secret.h"
#include "sa/group_commit.h"

namespace hp::acme {
namespace {

using core::ErrorCode;
using core::Fail;

// Token layout (32 bytes, 43 base64url chars): issued-at unix microseconds (8, big endian) ||
// random (8) || HMAC-SHA256(key, first 16)[0..16). The first 16 bytes are the replay-window key:
// ordered by issue time to the microsecond, so the nonces one group commit records (issued within
// milliseconds of each other) land on the same one or two pages at the right edge of the table,
// and pruning is a range delete at its left edge without a second index.
constexpr size_t kIdLen = 16;
constexpr size_t kTagLen = 16;

class HmacNonceService final : public NonceService {
 public:
  HmacNonceService(core::Database& db, const core::Clock& clock, NonceOptions options,
                   core::Secret key)
      : db_(db), clock_(clock), options_(options), key_(std::move(key)) {
    // HMAC-SHA256 with the key's inner and outer pads hashed once: a tag then costs two context
    // copies and two short hashes, without OpenSSL 3's per-call algorithm fetch.
    md_ = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    std::string k(key_.Reveal());
    if (k.size() > 64) k = core::ossl::Sha256(k);
    k.resize(64, '\0');
    std::string ipad(64, '\0'), opad(64, '\0');
    for (size_t i = 0; i < 64; ++i) {
      ipad[i] = static_cast<char>(k[i] ^ 0x36);
      opad[i] = static_cast<char>(k[i] ^ 0x5c);
    }
    OPENSSL_cleanse(k.data(), k.size());
    inner_.reset(EVP_MD_CTX_new());
    outer_.reset(EVP_MD_CTX_new());
    EVP_DigestInit_ex(inner_.get(), md_, nullptr);
    EVP_DigestUpdate(inner_.get(), ipad.data(), ipad.size());
    EVP_DigestInit_ex(outer_.get(), md_, nullptr);
    EVP_DigestUpdate(outer_.get(), opad.data(), opad.size());
    OPENSSL_cleanse(ipad.data(), ipad.size());
    OPENSSL_cleanse(opad.data(), opad.size());
  }
  ~HmacNonceService() override { EVP_MD_free(md_); }

  // The first kTagLen bytes of HMAC-SHA256(key, data); equal to core::ossl::HmacSha256's.
  std::string Tag(std::string_view data) const {
    core::ossl::MdCtx c(EVP_MD_CTX_new());
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX_copy_ex(c.get(), inner_.get());
    EVP_DigestUpdate(c.get(), data.data(), data.size());
    EVP_DigestFinal_ex(c.get(), md, &len);
    EVP_MD_CTX_copy_ex(c.get(), outer_.get());
    EVP_DigestUpdate(c.get(), md, len);
    EVP_DigestFinal_ex(c.get(), md, &len);
    return std::string(reinterpret_cast<char*>(md), kTagLen);
  }

  std::string Issue() override {
    std::string raw(kIdLen, '\0');
    uint64_t t = static_cast<uint64_t>(core::ToUnixMicros(clock_.Now()));
    for (int i = 7; i >= 0; --i, t >>= 8) raw[static_cast<size_t>(i)] = static_cast<char>(t & 0xff);
    auto rnd = core::RandomBytes(8);
    std::memcpy(raw.data() + 8, rnd.data(), 8);
    raw += Tag(raw);
    return core::Base64UrlEncode(raw);
  }

  core::Result<CheckedNonce> Check(std::string_view nonce) override {
    auto raw = core::Base64UrlDecodeToString(nonce);
    if (!raw || raw->size() != kIdLen + kTagLen) {
      return Fail(ErrorCode::kAcmeBadNonce, "JWS has an invalid anti-replay nonce");
    }
    std::string id = raw->substr(0, kIdLen);
    if (!core::ConstantTimeEquals(Tag(id),
                                  raw->substr(kIdLen))) {
      return Fail(ErrorCode::kAcmeBadNonce, "JWS has an invalid anti-replay nonce");
    }
    const int64_t issued = IssuedMicros(id);
    const int64_t now = core::ToUnixMicros(clock_.Now());
    const int64_t life =
        std::chrono::duration_cast<std::chrono::microseconds>(options_.lifetime).count();
    constexpr int64_t kSkew = 60'000'000;  // replicas' clocks may differ by up to a minute
    if (issued > now + kSkew || now - issued > life) {
      return Fail(ErrorCode::kAcmeBadNonce, "JWS nonce has expired");
    }
    return CheckedNonce{.id = std::move(id), .issued = issued, .expires = issued + life + kSkew};
  }

  core::Status Redeem(std::string_view nonce) override {
    HP_ASSIGN_OR_RETURN(auto checked, Check(nonce));
    return Record(checked);
  }

 private:
  // Recorded through the store's group committer: concurrent redemptions (and the requests'
  // own writes) share one commit. Expired rows are pruned a few hundred at a time, at most once
  // a second, so no single batch carries a large delete.
  core::Status Record(const CheckedNonce& nonce) {
    core::Status result;
    const int64_t now = core::ToUnixMicros(clock_.Now());
    auto st = committer_->Run([&](SQLite::Database& db) -> core::Status {
      result = RecordNonce(db, nonce);
      if (result) PruneUsedNonces(db, now, nonce);
      return core::Ok();
    });
    if (!st) return Fail(ErrorCode::kUnavailable, "could not record nonce: " + st.error().detail);
    return result;
  }

  core::Database& db_;
  const core::Clock& clock_;
  NonceOptions options_;
  core::Secret key_;
  std::shared_ptr<GroupCommitter> committer_ = GroupCommitter::For(db_);
  EVP_MD* md_ = nullptr;
  core::ossl::MdCtx inner_, outer_;  // only copied from after construction
};

}  // namespace

int64_t IssuedMicros(std::string_view id) {
  int64_t issued = 0;
  for (size_t i = 0; i < 8 && i < id.size(); ++i) {
    issued = (issued << 8) | static_cast<unsigned char>(id[i]);
  }
  return issued;
}

void PruneUsedNonces(SQLite::Database& db, int64_t now_us, const CheckedNonce& recorded) {
  static std::atomic<int64_t> last{0};
  int64_t prev = last.load();
  // (A clock that stepped back prunes at once rather than waiting to catch up.)
  if ((now_us >= prev && now_us - prev < 1'000'000) || !last.compare_exchange_strong(prev, now_us)) {
    return;
  }
  // Keys start with the issue time (big endian), so every row issued before the cutoff sorts
  // below the cutoff's 8 bytes. A prune runs at most once a second and may take up to 20,000 rows
  // (several seconds of redemptions at full load), so it keeps up and stays bounded after a pause.
  uint64_t cutoff = static_cast<uint64_t>(now_us - (recorded.expires - recorded.issued));
  unsigned char key[8];
  for (int i = 7; i >= 0; --i, cutoff >>= 8) key[i] = static_cast<unsigned char>(cutoff & 0xff);
  SQLite::Statement del(db, "DELETE FROM acme_used_nonces WHERE id IN (SELECT id FROM "
                            "acme_used_nonces WHERE id < ? ORDER BY id LIMIT 20000)");
  del.bind(1, key, 8);
  del.exec();
}

core::Status RecordNonce(SQLite::Database& db, const CheckedNonce& nonce) {
  // The request path (WFE) records through SaTx::RecordNonce with a cached statement; this
  // stand-alone form prepares its own.
  SQLite::Statement ins(db, "INSERT OR IGNORE INTO acme_used_nonces(id, expires) VALUES(?, ?)");
  ins.bind(1, nonce.id.data(), static_cast<int>(nonce.id.size()));
  ins.bind(2, static_cast<int64_t>(nonce.expires));
  ins.exec();
  if (db.getChanges() != 1) return Fail(ErrorCode::kAcmeBadNonce, "JWS nonce has already been used");
  return core::Ok();
}

core::Result<std::unique_ptr<NonceService>> CreateHmacNonceService(core::Database& db,
                                                                   const core::Clock& clock,
                                                                   NonceOptions options) {
  auto key = db.Write([&](SQLite::Database& d) -> core::Result<std::string> {
    SQLite::Statement q(d, "SELECT value FROM acme_secrets WHERE name = 'nonce_hmac'");
    if (q.executeStep()) {
      const auto col = q.getColumn(0);
      return std::string(static_cast<const char*>(col.getBlob()),
                         static_cast<size_t>(col.getBytes()));
    }
    auto bytes = core::RandomBytes(32);
    std::string k(bytes.begin(), bytes.end());
    SQLite::Statement ins(d, "INSERT INTO acme_secrets(name, value, created_at) "
                             "VALUES('nonce_hmac', ?, ?)");
    ins.bind(1, k.data(), static_cast<int>(k.size()));
    ins.bind(2, static_cast<int64_t>(core::ToUnixMicros(clock.Now())));
    ins.exec();
    return k;
  });
  if (!key) return std::unexpected(key.error());
  return std::unique_ptr<NonceService>(
      new HmacNonceService(db, clock, options, core::Secret(std::move(*key))));
}

}  // namespace hp::acme
