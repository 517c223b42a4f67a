#include "hp/core/sealer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "hp/core/encoding.h"
#include "hp/core/log.h"
#include "test_support.h"

namespace hp::core {
namespace {

class SealerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kError);
    db_path_ = dir_.path() + "/hp.db";
    key_file_ = dir_.path() + "/master.key";
    OpenDb();
  }
  void OpenDb() {
    auto db = Database::Open({.path = db_path_});
    ASSERT_TRUE(db) << db.error().ToString();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->Migrate({&CoreMigrations(), &SealerMigrations()}));
  }
  std::unique_ptr<StoreSealer> NewSealer(const std::string& key_file) {
    auto s = StoreSealer::Create(*db_, key_file);
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? std::move(*s) : nullptr;
  }

  hp::testing::TempDir dir_;
  std::string db_path_, key_file_;
  std::unique_ptr<Database> db_;
};

TEST_F(SealerTest, RoundTripAndKeyFileIsPrivate) {
  auto sealer = NewSealer(key_file_);
  ASSERT_TRUE(sealer);
  auto sealed = sealer->Seal("JBSWY3DPEHPK3PXP", "user:42:totp");
  ASSERT_TRUE(sealed);
  EXPECT_TRUE(sealed->starts_with("hpseal1."));
  EXPECT_EQ(sealed->find("JBSWY3DPEHPK3PXP"), std::string::npos);
  auto opened = sealer->Open(*sealed, "user:42:totp");
  ASSERT_TRUE(opened) << opened.error().ToString();
  EXPECT_EQ(opened->Reveal(), "JBSWY3DPEHPK3PXP");
  // Same plaintext twice gives different sealed values (random nonce).
  EXPECT_NE(*sealer->Seal("JBSWY3DPEHPK3PXP", "user:42:totp"), *sealed);
  // Empty and binary values survive.
  std::string binary("\0\x01\xff", 3);
  EXPECT_EQ(sealer->Open(*sealer->Seal(binary, "b"), "b")->Reveal(), binary);
  EXPECT_EQ(sealer->Open(*sealer->Seal("", "e"), "e")->Reveal(), "");

  struct stat st {};
  ASSERT_EQ(::stat(key_file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);

  // A new process (new sealer, same files) opens what the first sealed.
  sealer.reset();
  auto again = NewSealer(key_file_);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->Open(*sealed, "user:42:totp")->Reveal(), "JBSWY3DPEHPK3PXP");
}

TEST_F(SealerTest, WrongAssociatedDataAndTamperingFail) {
  auto sealer = NewSealer(key_file_);
  ASSERT_TRUE(sealer);
  auto sealed = *sealer->Seal("card-token-123", "org:7:gateway");
  // Copied to another row: does not open.
  auto other = sealer->Open(sealed, "org:8:gateway");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kInvalidArgument);
  // Every byte of the payload is authenticated: flip one in the nonce, ciphertext and tag.
  auto raw = *Base64UrlDecodeToString(sealed.substr(8));
  for (size_t pos : {size_t{5}, size_t{20}, raw.size() - 1}) {
    std::string t = raw;
    t[pos] = static_cast<char>(t[pos] ^ 0x01);
    EXPECT_FALSE(sealer->Open("hpseal1." + Base64UrlEncode(t), "org:7:gateway")) << pos;
  }
  // Pointing the header at another data key fails too.
  std::string t = raw;
  t[3] = static_cast<char>(t[3] + 1);
  EXPECT_FALSE(sealer->Open("hpseal1." + Base64UrlEncode(t), "org:7:gateway"));
  EXPECT_FALSE(sealer->Open("card-token-123", "org:7:gateway"));
  EXPECT_FALSE(sealer->Open("hpseal1.AAAA", "org:7:gateway"));
  EXPECT_FALSE(sealer->Open(sealed.substr(0, sealed.size() - 4), "org:7:gateway"));
}

TEST_F(SealerTest, RotateDataKeyKeepsOldValuesReadable) {
  auto sealer = NewSealer(key_file_);
  ASSERT_TRUE(sealer);
  auto before = *sealer->Seal("old secret", "ad");
  ASSERT_TRUE(sealer->RotateDataKey());
  auto after = *sealer->Seal("new secret", "ad");
  // The new value names a different data key (first 4 bytes after the prefix).
  EXPECT_NE(Base64UrlDecodeToString(before.substr(8))->substr(0, 4),
            Base64UrlDecodeToString(after.substr(8))->substr(0, 4));
  EXPECT_EQ(sealer->Open(before, "ad")->Reveal(), "old secret");
  EXPECT_EQ(sealer->Open(after, "ad")->Reveal(), "new secret");
  // Another sealer that loaded before the rotation still opens the new value (reads the key row).
  sealer.reset();
  auto fresh = NewSealer(key_file_);
  EXPECT_EQ(fresh->Open(after, "ad")->Reveal(), "new secret");
  EXPECT_EQ(fresh->Open(before, "ad")->Reveal(), "old secret");
}

TEST_F(SealerTest, SecondInstanceOpensKeysCreatedByTheFirst) {
  auto a = NewSealer(key_file_);
  auto b = NewSealer(key_file_);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->RotateDataKey());
  auto sealed = *a->Seal("shared", "ad");
  EXPECT_EQ(b->Open(sealed, "ad")->Reveal(), "shared");
}

TEST_F(SealerTest, RotateMasterKeyRewrapsAndRetiresTheOldFile) {
  auto sealer = NewSealer(key_file_);
  ASSERT_TRUE(sealer);
  auto v1 = *sealer->Seal("first", "ad");
  ASSERT_TRUE(sealer->RotateDataKey());
  auto v2 = *sealer->Seal("second", "ad");
  const std::string old_key = hp::testing::ReadFile(key_file_);

  ASSERT_TRUE(sealer->RotateMasterKey());
  const std::string new_key = hp::testing::ReadFile(key_file_);
  EXPECT_NE(new_key, old_key);
  EXPECT_EQ(hp::testing::ReadFile(key_file_ + ".previous"), old_key);
  EXPECT_FALSE(std::filesystem::exists(key_file_ + ".next"));
  // Values sealed before the rotation open, in this process and in a new one.
  EXPECT_EQ(sealer->Open(v1, "ad")->Reveal(), "first");
  EXPECT_EQ(sealer->Open(v2, "ad")->Reveal(), "second");
  sealer.reset();
  auto restarted = NewSealer(key_file_);
  ASSERT_TRUE(restarted);
  EXPECT_EQ(restarted->Open(v1, "ad")->Reveal(), "first");
  EXPECT_EQ(restarted->Open(v2, "ad")->Reveal(), "second");
  // The retired key file no longer opens the data keys.
  auto with_old = StoreSealer::Create(*db_, key_file_ + ".previous");
  ASSERT_FALSE(with_old);
  EXPECT_NE(with_old.error().detail.find("master key"), std::string::npos);
  EXPECT_EQ(with_old.error().detail.find(old_key), std::string::npos);  // never print the key
}

TEST_F(SealerTest, RestartFinishesAMasterRotationInterruptedAfterCommit) {
  auto sealer = NewSealer(key_file_);
  ASSERT_TRUE(sealer);
  auto v = *sealer->Seal("kept", "ad");
  ASSERT_TRUE(sealer->RotateMasterKey());
  sealer.reset();
  // Put the files back as they were when the transaction had committed but the swap had not run.
  std::filesystem::rename(key_file_, key_file_ + ".next");
  std::filesystem::rename(key_file_ + ".previous", key_file_);
  const std::string new_key = hp::testing::ReadFile(key_file_ + ".next");
  auto restarted = NewSealer(key_file_);
  ASSERT_TRUE(restarted);
  EXPECT_EQ(restarted->Open(v, "ad")->Reveal(), "kept");
  EXPECT_EQ(hp::testing::ReadFile(key_file_), new_key);
  EXPECT_FALSE(std::filesystem::exists(key_file_ + ".next"));
}

TEST_F(SealerTest, KeyFileMistakesAreNamedAtStartup) {
  ASSERT_TRUE(NewSealer(key_file_));
  // Readable by others: refused.
  ASSERT_EQ(::chmod(key_file_.c_str(), 0644), 0);
  auto loose = StoreSealer::Create(*db_, key_file_);
  ASSERT_FALSE(loose);
  EXPECT_NE(loose.error().detail.find("chmod 600"), std::string::npos);
  ASSERT_EQ(::chmod(key_file_.c_str(), 0600), 0);
  // Missing while data keys exist: refused, rather than silently creating a new key.
  std::filesystem::rename(key_file_, key_file_ + ".moved");
  auto missing = StoreSealer::Create(*db_, key_file_);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().detail.find("missing"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(key_file_));
}

TEST_F(SealerTest, DatabaseFileNeverContainsThePlaintext) {
  const std::string plaintext = "PLAINTEXT-MARKER-7f3a9c-customer-private-key";
  {
    auto sealer = NewSealer(key_file_);
    ASSERT_TRUE(sealer);
    ASSERT_TRUE(db_->Write([](SQLite::Database& c) -> Status {
      c.exec("CREATE TABLE secrets(id INTEGER PRIMARY KEY, value TEXT NOT NULL)");
      return Ok();
    }));
    for (int i = 0; i < 50; ++i) {
      auto sealed = sealer->Seal(plaintext, "secret:" + std::to_string(i));
      ASSERT_TRUE(sealed);
      ASSERT_TRUE(db_->Write([&](SQLite::Database& c) -> Status {
        SQLite::Statement ins(c, "INSERT INTO secrets(id, value) VALUES (?, ?)");
        ins.bind(1, i);
        ins.bind(2, *sealed);
        ins.exec();
        return Ok();
      }));
    }
    ASSERT_TRUE(sealer->RotateMasterKey());
  }
  db_.reset();  // checkpoints the WAL into the main file
  std::string bytes;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    if (e.path().filename().string().starts_with("hp.db")) bytes += hp::testing::ReadFile(e.path());
  }
  ASSERT_GT(bytes.size(), 4096u);
  EXPECT_NE(bytes.find("hpseal1."), std::string::npos);  // the sealed values are there
  EXPECT_EQ(bytes.find(plaintext), std::string::npos);
  EXPECT_EQ(bytes.find(hp::testing::ReadFile(key_file_)), std::string::npos);
  EXPECT_EQ(bytes.find(hp::testing::ReadFile(key_file_ + ".previous")), std::string::npos);
}

}  // namespace
}  // namespace hp::core
