#pragma once
// Secrets at rest: values are sealed with AES-256-GCM under a data key; data keys are stored
// wrapped (AES-256-GCM) by a master key kept outside the database (a file under var/keys/, or
// later a PKCS#11 token). Rotating the master key re-wraps the data keys only, so sealed values
// stay readable without downtime. A sealed value is self-describing:
//   "hpseal1." base64url(data_key_id(4 bytes BE) || nonce(12) || ciphertext || tag(16))
// and is bound to an associated-data string (e.g. "user:<id>:totp") so a sealed value copied to
// another row does not open.
//
// Thread-safe.

#include <memory>
#include <string>
#include <string_view>

#include "hp/core/error.h"
#include "hp/core/secret.h"
#include "hp/core/store.h"

namespace hp::core {

class Sealer {
 public:
  virtual ~Sealer() = default;
  virtual Result<std::string> Seal(std::string_view plaintext,
                                   std::string_view associated_data) = 0;
  // kInvalidArgument when `sealed` is malformed or does not open with `associated_data`
  // (tampered, or copied from another row); kNotFound when it names an unknown data key.
  virtual Result<Secret> Open(std::string_view sealed, std::string_view associated_data) = 0;
};

// The data_keys table is part of CoreMigrations() (core/src/sql/0002_data_keys.sql), so any
// database migrated with the core set can hold a sealer. This set is empty and kept so callers
// may list it in Database::Migrate without caring where the table lives.
const MigrationSet& SealerMigrations();

// Keys in `db` (table data_keys), master key in `master_key_file` (32 random bytes, created with
// mode 0600 if missing). Create() fails, naming the file, when the key file is readable by group
// or others, is missing while data keys exist, or does not open every data key. It also finishes
// a master-key rotation that was interrupted after its transaction committed (<file>.next).
class StoreSealer final : public Sealer {
 public:
  static Result<std::unique_ptr<StoreSealer>> Create(Database& db,
                                                     const std::string& master_key_file);
  Result<std::string> Seal(std::string_view plaintext, std::string_view associated_data) override;
  Result<Secret> Open(std::string_view sealed, std::string_view associated_data) override;
  // Generates a new master key, re-wraps every data key under it in one transaction, then
  // replaces the key file (old file kept as <file>.previous until the next rotation).
  Status RotateMasterKey();
  // Starts a new data key for new seals (old ones still open).
  Status RotateDataKey();
  ~StoreSealer() override;

 private:
  struct Impl;
  explicit StoreSealer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hp::core
