// Bench-only pre-fill for the "1,000,000 certificates already stored" variant of
// tests/bench/acme.sh: inserts N issued certificates with their orders, authorizations and
// per-domain rate-limit rows directly into hostplane's SQLite database (acme schema, migrated
// already), in batches of 10,000 rows per transaction with synchronous=OFF. The rows look like
// what N issuances by 1,000 accounts leave behind (random public ids, serials and ARI ids in the
// unique indexes; ~750-byte DER blobs), so that index depth and page cache behaviour match; they
// are not valid certificates. Never run it against a production database.
//
//   acme_prefill --db var/hostplane.db --certificates 1000000
#include <SQLiteCpp/SQLiteCpp.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

namespace {

std::mt19937_64 rng(42);

std::string RandomB64(size_t chars) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string s(chars, 'A');
  for (auto& c : s) c = k[rng() & 63];
  return s;
}

std::string RandomHex(size_t chars) {
  static const char* k = "0123456789abcdef";
  std::string s(chars, '0');
  for (auto& c : s) c = k[rng() & 15];
  if (s[0] == '0') s[0] = '1';
  return s;
}

std::string RandomBytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string db_path;
  long long n = 1000000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--db") db_path = argv[i + 1];
    else if (a == "--certificates") n = std::stoll(argv[i + 1]);
  }
  if (db_path.empty()) {
    std::fprintf(stderr, "usage: acme_prefill --db PATH [--certificates N]\n");
    return 2;
  }
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
  db.exec("PRAGMA synchronous=OFF");
  db.exec("PRAGMA cache_size=-262144");  // 256 MiB for the bulk load
  const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t day = int64_t{86400} * 1000000;
  constexpr int kAccounts = 1000;
  std::vector<int64_t> accounts;
  {
    SQLite::Transaction tx(db);
    SQLite::Statement q(db, "INSERT INTO acme_accounts(public_id, key_thumbprint, jwk, status, "
                            "tos_agreed, created_ip, created_at) VALUES(?,?,?,'valid',1,'192.0.2.1',?)");
    for (int i = 0; i < kAccounts; ++i) {
      q.reset();
      q.bind(1, RandomB64(22));
      q.bind(2, RandomB64(43));
      q.bind(3, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" + RandomB64(43) + "\",\"y\":\"" +
                    RandomB64(43) + "\"}");
      q.bind(4, now - 90 * day);
      q.exec();
      accounts.push_back(db.getLastInsertRowid());
    }
    tx.commit();
  }
  SQLite::Statement authz(db,
      "INSERT INTO acme_authz(public_id, account_id, identifier_type, identifier_value, wildcard, "
      "status, expires, token, challenge_types, chall_type, chall_status, validated_at, "
      "validation_record, created_at) VALUES(?,?,'dns',?,0,'valid',?,?,'http-01,dns-01,tls-alpn-01',"
      "'http-01','valid',?,?,?)");
  SQLite::Statement order(db,
      "INSERT INTO acme_orders(public_id, account_id, status, identifiers, authz, profile, expires, "
      "certificate_id, created_at, updated_at) VALUES(?,?,'valid',?,?,'classic',?,?,?,?)");
  SQLite::Statement cert(db,
      "INSERT INTO acme_certificates(public_id, serial, ari_id, account_id, order_id, issuer_id, "
      "profile, names, spki_hash, der, not_before, not_after, created_at) "
      "VALUES(?,?,?,?,?,'e1','classic',?,?,?,?,?,?)");
  SQLite::Statement limit(db, "INSERT OR REPLACE INTO acme_rate_limits(key, tat) VALUES(?, ?)");
  const std::string aki = RandomB64(27);
  const auto t0 = std::chrono::steady_clock::now();
  for (long long done = 0; done < n;) {
    SQLite::Transaction tx(db);
    for (int b = 0; b < 10000 && done < n; ++b, ++done) {
      const int64_t acct = accounts[static_cast<size_t>(rng() % kAccounts)];
      const int64_t created = now - static_cast<int64_t>(rng() % static_cast<uint64_t>(89 * day));
      const std::string name = "p" + std::to_string(done) + "-" + RandomHex(8) + ".test";
      const std::string authz_id = RandomB64(22), order_id = RandomB64(22), cert_id = RandomB64(22);
      const std::string ids = "[{\"type\":\"dns\",\"value\":\"" + name + "\"}]";
      authz.reset();
      authz.bind(1, authz_id);
      authz.bind(2, acct);
      authz.bind(3, name);
      authz.bind(4, created + 30 * day);
      authz.bind(5, RandomB64(43));
      authz.bind(6, created);
      authz.bind(7, "{\"type\":\"http-01\",\"records\":[{\"url\":\"http://" + name +
                        "/.well-known/acme-challenge/x\",\"addressUsed\":\"192.0.2.1\"}]}");
      authz.bind(8, created);
      authz.exec();
      order.reset();
      order.bind(1, order_id);
      order.bind(2, acct);
      order.bind(3, ids);
      order.bind(4, "[\"" + authz_id + "\"]");
      order.bind(5, created + 7 * day);
      order.bind(6, cert_id);
      order.bind(7, created);
      order.bind(8, created);
      order.exec();
      const int64_t order_row = db.getLastInsertRowid();
      const std::string serial = RandomHex(32);
      const std::string der = RandomBytes(700 + rng() % 100);
      cert.reset();
      cert.bind(1, cert_id);
      cert.bind(2, serial);
      cert.bind(3, aki + "." + RandomB64(22));
      cert.bind(4, acct);
      cert.bind(5, order_row);
      cert.bind(6, ids);
      cert.bind(7, RandomHex(64));
      cert.bind(8, der.data(), static_cast<int>(der.size()));
      cert.bind(9, static_cast<int64_t>(created - int64_t{3600} * 1000000));
      cert.bind(10, created + 90 * day);
      cert.bind(11, created);
      cert.exec();
      limit.reset();
      limit.bind(1, "certs:" + name);
      limit.bind(2, created);
      limit.exec();
    }
    tx.commit();
    if (done % 100000 == 0) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "acme_prefill: %lld rows (%.0f/s)\n", done, static_cast<double>(done) / s);
    }
  }
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  std::printf("acme_prefill: %lld certificates, orders, authorizations and rate-limit rows in %s\n",
              n, db_path.c_str());
  return 0;
}
