#include "dev_cert.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "hp/core/openssl.h"
#include "hp/core/random.h"
#include "hp/core/secret.h"

namespace hp::cp {
namespace ossl = core::ossl;

namespace {
core::Status WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return core::Fail(core::ErrorCode::kInternal, "cannot write " + tmp);
    out << data;
  }
  ::chmod(tmp.c_str(), mode);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return core::Fail(core::ErrorCode::kInternal, "cannot rename " + tmp + ": " + ec.message());
  return core::Ok();
}

bool StillValid(const std::string& crt) {
  std::ifstream in(crt);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  auto c = ossl::ReadCertificatePem(ss.str());
  if (!c) return false;
  // Renew a week before expiry.
  return X509_cmp_time(X509_get0_notAfter(c->get()), nullptr) > 0 &&
         X509_cmp_current_time(X509_get0_notAfter(c->get())) > 0 &&
         [&] {
           time_t soon = time(nullptr) + 7 * 86400;
           return X509_cmp_time(X509_get0_notAfter(c->get()), &soon) > 0;
         }();
}
}  // namespace

core::Status EnsureDevCertificate(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string crt = dir + "/server.crt", key = dir + "/server.key";
  if (std::filesystem::exists(key) && StillValid(crt)) return core::Ok();

  HP_ASSIGN_OR_RETURN(ossl::PKey pkey, ossl::GenerateEcKey("P-256"));
  ossl::X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  auto serial = core::RandomBytes(16);
  serial[0] &= 0x7f;
  ossl::BigNum bn(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x.get()));
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 365L * 86400);
  X509_set_pubkey(x.get(), pkey.get());
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("hostplane dev server"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("hostplane (development only)"), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  const std::pair<int, const char*> exts[] = {
      {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"},
      {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
      {NID_key_usage, "critical,digitalSignature,keyCertSign"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_subject_key_identifier, "hash"},
  };
  for (const auto& [nid, value] : exts) {
    ossl::X509Ext ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!ext || X509_add_ext(x.get(), ext.get(), -1) != 1)
      return core::Fail(ossl::LastError(core::ErrorCode::kInternal, "dev certificate extension"));
  }
  if (X509_sign(x.get(), pkey.get(), EVP_sha256()) <= 0)
    return core::Fail(ossl::LastError(core::ErrorCode::kInternal, "dev certificate signature"));
  HP_ASSIGN_OR_RETURN(std::string key_pem, ossl::PrivateKeyToPem(pkey.get()));
  HP_ASSIGN_OR_RETURN(std::string crt_pem, ossl::CertificateToPem(x.get()));
  HP_TRY(WriteFile(key, key_pem, 0600));
  core::SecureWipe(key_pem);
  return WriteFile(crt, crt_pem, 0644);
}

}  // namespace hp::cp
