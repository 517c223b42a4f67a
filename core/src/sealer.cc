#include "hp/core/sealer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "hp/core/clock.h"
#include "hp/core/encoding.h"
#include "hp/core/log.h"
#include "hp/core/openssl.h"
#include "hp/core/random.h"

namespace hp::core {
namespace {

constexpr std::string_view kPrefix = "hpseal1.";
constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr size_t kIdBytes = 4;

std::string ErrnoText() { return std::strerror(errno); }

// A short public fingerprint of a master key; never the key itself.
std::string MasterKeyId(const Secret& key) {
  std::string digest =
      ossl::Sha256(std::string("hostplane master key id\n") + std::string(key.Reveal()));
  return HexEncode(AsBytes(std::string_view(digest).substr(0, 8)));
}

std::string BigEndian32(uint32_t v) {
  std::string out(4, '\0');
  out[0] = static_cast<char>((v >> 24) & 0xff);
  out[1] = static_cast<char>((v >> 16) & 0xff);
  out[2] = static_cast<char>((v >> 8) & 0xff);
  out[3] = static_cast<char>(v & 0xff);
  return out;
}

// AES-256-GCM: returns nonce || ciphertext || tag.
Result<std::string> GcmSeal(const Secret& key, std::string_view plaintext, std::string_view aad) {
  auto nonce = RandomBytes(kNonceBytes);
  ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::unexpected(ossl::LastError(ErrorCode::kInternal, "EVP_CIPHER_CTX_new"));
  auto k = reinterpret_cast<const unsigned char*>(key.Reveal().data());
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, k, nonce.data()) != 1)
    return std::unexpected(ossl::LastError(ErrorCode::kInternal, "AES-GCM init"));
  int len = 0;
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                                        reinterpret_cast<const unsigned char*>(aad.data()),
                                        static_cast<int>(aad.size())) != 1)
    return std::unexpected(ossl::LastError(ErrorCode::kInternal, "AES-GCM aad"));
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  std::memcpy(out.data(), nonce.data(), kNonceBytes);
  auto ct = reinterpret_cast<unsigned char*>(out.data() + kNonceBytes);
  if (EVP_EncryptUpdate(ctx.get(), ct, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1)
    return std::unexpected(ossl::LastError(ErrorCode::kInternal, "AES-GCM encrypt"));
  int fin = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), ct + len, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          out.data() + kNonceBytes + plaintext.size()) != 1)
    return std::unexpected(ossl::LastError(ErrorCode::kInternal, "AES-GCM finish"));
  return out;
}

// Opens nonce || ciphertext || tag; nullopt when authentication fails.
std::optional<Secret> GcmOpen(const Secret& key, std::string_view sealed, std::string_view aad) {
  if (sealed.size() < kNonceBytes + kTagBytes) return std::nullopt;
  auto nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string_view ct = sealed.substr(kNonceBytes, sealed.size() - kNonceBytes - kTagBytes);
  std::string tag(sealed.substr(sealed.size() - kTagBytes));
  ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::nullopt;
  auto k = reinterpret_cast<const unsigned char*>(key.Reveal().data());
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, k, nonce) != 1)
    return std::nullopt;
  int len = 0;
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                                        reinterpret_cast<const unsigned char*>(aad.data()),
                                        static_cast<int>(aad.size())) != 1)
    return std::nullopt;
  std::string plain(ct.size(), '\0');
  auto pt = reinterpret_cast<unsigned char*>(plain.data());
  if (EVP_DecryptUpdate(ctx.get(), pt, &len, reinterpret_cast<const unsigned char*>(ct.data()),
                        static_cast<int>(ct.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1) {
    SecureWipe(plain);
    return std::nullopt;
  }
  int fin = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), pt + len, &fin) != 1) {
    SecureWipe(plain);
    ossl::DrainErrors();
    return std::nullopt;
  }
  return Secret(std::move(plain));
}

// The wrapped data key is bound to its row id, so rows cannot be swapped.
std::string WrapAad(int64_t id) { return "hostplane data key " + std::to_string(id); }

// Reads a master key file: exactly 32 bytes, not readable by group or others.
Result<Secret> ReadKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Fail(ErrorCode::kInternal, "cannot open master key file " + path + ": " + ErrnoText());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kInternal, "cannot stat master key file " + path + ": " + ErrnoText());
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Fail(ErrorCode::kPermissionDenied,
                "master key file " + path + " has mode " + mode +
                    "; it must not be readable by group or others (chmod 600)");
  }
  std::string buf(kKeyBytes + 1, '\0');
  ssize_t n = ::read(fd, buf.data(), buf.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(kKeyBytes)) {
    SecureWipe(buf);
    return Fail(ErrorCode::kInternal, "master key file " + path + " must hold exactly 32 bytes");
  }
  buf.resize(kKeyBytes);
  return Secret(std::move(buf));
}

// Writes a new key file with mode 0600 and fsyncs it; fails if it exists unless `replace`.
Status WriteKeyFile(const std::string& path, const Secret& key, bool replace) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (replace ? O_TRUNC : O_EXCL);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0)
    return Fail(ErrorCode::kInternal, "cannot create master key file " + path + ": " + ErrnoText());
  ::fchmod(fd, 0600);
  std::string_view data = key.Reveal();
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok)
    return Fail(ErrorCode::kInternal, "cannot write master key file " + path + ": " + ErrnoText());
  return Ok();
}

void SyncDir(const std::string& file) {
  std::string dir = std::filesystem::path(file).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

Secret NewKey() {
  auto b = RandomBytes(kKeyBytes);
  Secret s(std::string(b.begin(), b.end()));
  OPENSSL_cleanse(b.data(), b.size());
  return s;
}

struct Row {
  int64_t id;
  std::string wrapped;
  std::string master_key_id;
};

Result<std::vector<Row>> LoadRows(Database& db, std::optional<int64_t> only) {
  return db.Read([&](SQLite::Database& c) -> Result<std::vector<Row>> {
    SQLite::Statement q(c, only ? "SELECT id, wrapped, master_key_id FROM data_keys WHERE id=?"
                                : "SELECT id, wrapped, master_key_id FROM data_keys ORDER BY id");
    if (only) q.bind(1, *only);
    std::vector<Row> rows;
    while (q.executeStep()) {
      auto blob = q.getColumn(1);
      rows.push_back({q.getColumn(0).getInt64(),
                      std::string(static_cast<const char*>(blob.getBlob()), blob.getBytes()),
                      q.getColumn(2).getString()});
    }
    return rows;
  });
}

}  // namespace

const MigrationSet& SealerMigrations() {
  static const MigrationSet kEmpty;
  return kEmpty;
}

struct StoreSealer::Impl {
  Database* db = nullptr;
  std::string key_file;
  std::mutex mu;  // guards everything below
  Secret master;
  std::string master_id;
  std::map<int64_t, Secret> keys;  // unwrapped data keys
  int64_t active_id = 0;

  Result<Secret> Unwrap(const Row& row) {
    if (row.master_key_id != master_id)
      return Fail(ErrorCode::kInternal, "data key " + std::to_string(row.id) +
                                            " is wrapped by master key " + row.master_key_id +
                                            " but " + key_file + " holds master key " + master_id +
                                            " (wrong or stale key file?)");
    auto k = GcmOpen(master, row.wrapped, WrapAad(row.id));
    if (!k || k->Reveal().size() != kKeyBytes)
      return Fail(ErrorCode::kInternal, "master key in " + key_file + " does not open data key " +
                                            std::to_string(row.id) +
                                            " (wrong key file or corrupted row)");
    return std::move(*k);
  }

  // Caller holds mu.
  Status LoadAll() {
    HP_ASSIGN_OR_RETURN(auto rows, LoadRows(*db, std::nullopt));
    keys.clear();
    for (const auto& r : rows) {
      HP_ASSIGN_OR_RETURN(Secret k, Unwrap(r));
      keys.emplace(r.id, std::move(k));
      active_id = r.id;
    }
    return Ok();
  }

  // Caller holds mu. New data keys become active: the newest row seals.
  Status AddDataKey() {
    Secret key = NewKey();
    const std::string mid = master_id;
    const int64_t created = ToUnixMicros(SystemClock::Instance().Now());
    HP_ASSIGN_OR_RETURN(int64_t id, db->Write([&](SQLite::Database& c) -> Result<int64_t> {
      SQLite::Statement next(c, "SELECT COALESCE(MAX(id), 0) + 1 FROM data_keys");
      next.executeStep();
      int64_t new_id = next.getColumn(0).getInt64();
      if (new_id > 0xffffffffLL) return Fail(ErrorCode::kInternal, "data key ids exhausted");
      HP_ASSIGN_OR_RETURN(std::string wrapped, GcmSeal(master, key.Reveal(), WrapAad(new_id)));
      SQLite::Statement ins(
          c, "INSERT INTO data_keys(id, wrapped, master_key_id, created_at) VALUES (?,?,?,?)");
      ins.bind(1, new_id);
      ins.bind(2, wrapped.data(), static_cast<int>(wrapped.size()));
      ins.bind(3, mid);
      ins.bind(4, created);
      ins.exec();
      return new_id;
    }));
    keys.emplace(id, std::move(key));
    active_id = id;
    log::Info("sealer: new data key", {{"data_key_id", id}});
    return Ok();
  }

  // A value sealed by another process under a key this one has not loaded yet.
  Result<const Secret*> Key(int64_t id) {
    auto it = keys.find(id);
    if (it != keys.end()) return &it->second;
    HP_ASSIGN_OR_RETURN(auto rows, LoadRows(*db, id));
    if (rows.empty())
      return Fail(ErrorCode::kNotFound,
                  "sealed value names unknown data key " + std::to_string(id));
    HP_ASSIGN_OR_RETURN(Secret k, Unwrap(rows[0]));
    return &keys.emplace(id, std::move(k)).first->second;
  }
};

StoreSealer::StoreSealer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StoreSealer::~StoreSealer() = default;

Result<std::unique_ptr<StoreSealer>> StoreSealer::Create(Database& db,
                                                         const std::string& master_key_file) {
  auto impl = std::make_unique<Impl>();
  impl->db = &db;
  impl->key_file = master_key_file;
  std::error_code ec;
  if (!std::filesystem::exists(master_key_file, ec)) {
    HP_ASSIGN_OR_RETURN(auto existing, LoadRows(db, std::nullopt));
    if (!existing.empty())
      return Fail(ErrorCode::kInternal, "master key file " + master_key_file +
                                            " is missing but the database holds " +
                                            std::to_string(existing.size()) +
                                            " data keys wrapped by it; restore the key file");
    Secret key = NewKey();
    HP_TRY(WriteKeyFile(master_key_file, key, false));
    SyncDir(master_key_file);
    log::Info("sealer: created master key file", {{"path", master_key_file}});
  }
  HP_ASSIGN_OR_RETURN(impl->master, ReadKeyFile(master_key_file));
  impl->master_id = MasterKeyId(impl->master);

  // Finish a rotation that committed the re-wrapped keys but crashed before swapping files.
  HP_ASSIGN_OR_RETURN(auto rows, LoadRows(db, std::nullopt));
  const std::string next_file = master_key_file + ".next";
  if (!rows.empty() && rows[0].master_key_id != impl->master_id &&
      std::filesystem::exists(next_file, ec)) {
    HP_ASSIGN_OR_RETURN(Secret next, ReadKeyFile(next_file));
    if (MasterKeyId(next) == rows[0].master_key_id) {
      std::filesystem::rename(master_key_file, master_key_file + ".previous", ec);
      std::filesystem::rename(next_file, master_key_file, ec);
      if (ec)
        return Fail(ErrorCode::kInternal, "cannot finish master key rotation: " + ec.message());
      SyncDir(master_key_file);
      impl->master = std::move(next);
      impl->master_id = MasterKeyId(impl->master);
      log::Warn("sealer: finished an interrupted master key rotation", {{"path", master_key_file}});
    }
  }

  std::lock_guard lock(impl->mu);
  HP_TRY(impl->LoadAll());
  if (impl->keys.empty()) HP_TRY(impl->AddDataKey());
  return std::unique_ptr<StoreSealer>(new StoreSealer(std::move(impl)));
}

Result<std::string> StoreSealer::Seal(std::string_view plaintext,
                                      std::string_view associated_data) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = impl_->active_id;
  const std::string id_bytes = BigEndian32(static_cast<uint32_t>(id));
  // The key id is authenticated too, so the header cannot be edited to point elsewhere.
  HP_ASSIGN_OR_RETURN(std::string body, GcmSeal(impl_->keys.at(id), plaintext,
                                                id_bytes + std::string(associated_data)));
  return std::string(kPrefix) + Base64UrlEncode(id_bytes + body);
}

Result<Secret> StoreSealer::Open(std::string_view sealed, std::string_view associated_data) {
  if (!sealed.starts_with(kPrefix))
    return Fail(ErrorCode::kInvalidArgument, "not a sealed value (expected prefix hpseal1.)");
  auto raw = Base64UrlDecodeToString(sealed.substr(kPrefix.size()));
  if (!raw || raw->size() < kIdBytes + kNonceBytes + kTagBytes)
    return Fail(ErrorCode::kInvalidArgument, "malformed sealed value");
  std::string_view r = *raw;
  const uint32_t id = (static_cast<uint32_t>(static_cast<uint8_t>(r[0])) << 24) |
                      (static_cast<uint32_t>(static_cast<uint8_t>(r[1])) << 16) |
                      (static_cast<uint32_t>(static_cast<uint8_t>(r[2])) << 8) |
                      static_cast<uint32_t>(static_cast<uint8_t>(r[3]));
  std::lock_guard lock(impl_->mu);
  HP_ASSIGN_OR_RETURN(const Secret* key, impl_->Key(id));
  auto opened = GcmOpen(*key, r.substr(kIdBytes),
                        std::string(r.substr(0, kIdBytes)) + std::string(associated_data));
  if (!opened)
    return Fail(ErrorCode::kInvalidArgument,
                "sealed value does not open (tampered, or sealed for other associated data)");
  return std::move(*opened);
}

Status StoreSealer::RotateDataKey() {
  std::lock_guard lock(impl_->mu);
  return impl_->AddDataKey();
}

Status StoreSealer::RotateMasterKey() {
  std::lock_guard lock(impl_->mu);
  Impl& m = *impl_;
  Secret next = NewKey();
  const std::string next_id = MasterKeyId(next);
  const std::string next_file = m.key_file + ".next";
  // 1. The new key is durable before any row depends on it.
  HP_TRY(WriteKeyFile(next_file, next, true));
  SyncDir(next_file);
  // 2. Re-wrap every data key in one transaction (rows read inside it, so none is missed).
  Status st = m.db->Write([&](SQLite::Database& c) -> Status {
    SQLite::Statement q(c, "SELECT id, wrapped, master_key_id FROM data_keys ORDER BY id");
    std::vector<Row> rows;
    while (q.executeStep()) {
      auto blob = q.getColumn(1);
      rows.push_back({q.getColumn(0).getInt64(),
                      std::string(static_cast<const char*>(blob.getBlob()), blob.getBytes()),
                      q.getColumn(2).getString()});
    }
    SQLite::Statement up(c, "UPDATE data_keys SET wrapped=?, master_key_id=? WHERE id=?");
    for (const auto& r : rows) {
      HP_ASSIGN_OR_RETURN(Secret key, m.Unwrap(r));
      HP_ASSIGN_OR_RETURN(std::string wrapped, GcmSeal(next, key.Reveal(), WrapAad(r.id)));
      up.bind(1, wrapped.data(), static_cast<int>(wrapped.size()));
      up.bind(2, next_id);
      up.bind(3, r.id);
      up.exec();
      up.reset();
    }
    return Ok();
  });
  if (!st) {
    std::error_code ec;
    std::filesystem::remove(next_file, ec);
    return st;
  }
  // 3. Swap the files; a crash before this point is finished by Create().
  std::error_code ec;
  std::filesystem::rename(m.key_file, m.key_file + ".previous", ec);
  if (!ec) std::filesystem::rename(next_file, m.key_file, ec);
  if (ec)
    return Fail(ErrorCode::kInternal, "data keys were re-wrapped but the key file swap failed (" +
                                          ec.message() + "); the new key is in " + next_file);
  SyncDir(m.key_file);
  m.master = std::move(next);
  m.master_id = next_id;
  log::Info("sealer: master key rotated", {{"master_key_id", next_id}});
  return Ok();
}

}  // namespace hp::core
