// A Signer whose private key stays on a PKCS#11 token, through libp11's OpenSSL engine
// (Debian libengine-pkcs11-openssl). OpenSSL 3 deprecates the engine API, but the pkcs11
// provider is not in Debian 12 main; this file is the only user of it.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "hp/acme/ca.h"
#include "hp/core/log.h"

namespace hp::acme {
namespace {

using core::ErrorCode;
using core::Fail;
using core::Result;
using core::Status;

// RFC 7512 path attribute values: everything but unreserved characters is percent-encoded.
std::string UriEscape(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

core::Error ConfigError(const std::string& key, const std::string& detail) {
  return core::Error(ErrorCode::kInvalidArgument, detail + " (config key '" + key + "')")
      .WithField(key);
}

// A structural reference (before ENGINE_init).
using EnginePtr = std::unique_ptr<ENGINE, core::ossl::Deleter<ENGINE_free>>;

// One initialised engine per module (libp11's dynamic engine can be bound only once per process);
// it keeps the sessions and logins, so every signer on a token shares them. Engines live until
// the process exits. Keys are loaded under the registry's lock with the PIN set just before.
class EngineRegistry {
 public:
  static EngineRegistry& Instance() {
    static auto* r = new EngineRegistry();
    return *r;
  }

  struct Loaded {
    core::ossl::PKey priv;     // null when loading failed
    core::ossl::PKey pub_obj;  // the token's public key object, null when absent
    std::string errors;        // OpenSSL/libp11 errors of the private key load
  };

  Result<Loaded> Load(const Pkcs11KeyConfig& cfg, const std::string& pin, const std::string& uri) {
    std::lock_guard lock(mu_);
    HP_ASSIGN_OR_RETURN(ENGINE * e, Engine(cfg));
    if (!ENGINE_ctrl_cmd_string(e, "PIN", pin.c_str(), 0)) {
      return Fail(core::ossl::LastError(ErrorCode::kUnavailable, "pkcs11 engine PIN"));
    }
    Loaded out;
    // The public object needs no login: its absence means a wrong token or label.
    out.pub_obj.reset(ENGINE_load_public_key(e, (uri + ";type=public").c_str(), nullptr, nullptr));
    core::ossl::DrainErrors();
    out.priv.reset(ENGINE_load_private_key(e, (uri + ";type=private").c_str(), nullptr, nullptr));
    if (!out.priv) out.errors = core::ossl::DrainErrors();
    return out;
  }

 private:
  Result<ENGINE*> Engine(const Pkcs11KeyConfig& cfg) {
    auto it = engines_.find(cfg.module);
    if (it != engines_.end()) return it->second;
    if (!std::filesystem::exists(cfg.module)) {
      return Fail(ConfigError("acme.ca.pkcs11.module", "PKCS#11 module " + cfg.module +
                                                           " does not exist"));
    }
    if (!engines_.empty()) {
      return Fail(ConfigError("acme.ca.pkcs11.module",
                              "only one PKCS#11 module per process is supported (already using " +
                                  engines_.begin()->first + ")"));
    }
    ENGINE_load_dynamic();
    EnginePtr e(ENGINE_by_id("dynamic"));
    const std::string so = std::string(OPENSSL_info(OPENSSL_INFO_ENGINES_DIR)) + "/pkcs11.so";
    if (!e || !ENGINE_ctrl_cmd_string(e.get(), "SO_PATH", so.c_str(), 0) ||
        !ENGINE_ctrl_cmd_string(e.get(), "ID", "pkcs11", 0) ||
        !ENGINE_ctrl_cmd_string(e.get(), "LIST_ADD", "0", 0) ||
        !ENGINE_ctrl_cmd_string(e.get(), "LOAD", nullptr, 0)) {
      return Fail(core::ossl::LastError(
          ErrorCode::kUnavailable,
          "cannot load the OpenSSL pkcs11 engine " + so +
              " (install libengine-pkcs11-openssl)"));
    }
    // QUIET keeps libp11 from printing to stderr; we report its errors ourselves.
    ENGINE_ctrl_cmd_string(e.get(), "QUIET", nullptr, 1);
    if (!ENGINE_ctrl_cmd_string(e.get(), "MODULE_PATH", cfg.module.c_str(), 0)) {
      return Fail(core::ossl::LastError(ErrorCode::kUnavailable, "pkcs11 engine setup failed"));
    }
    if (!ENGINE_init(e.get())) {
      core::ossl::DrainErrors();
      return Fail(ConfigError("acme.ca.pkcs11.module",
                              "cannot initialise PKCS#11 module " + cfg.module));
    }
    // ENGINE_init took a functional reference (kept for the life of the process); the
    // structural one from ENGINE_by_id is dropped here.
    ENGINE* raw = e.get();
    e.reset();
    engines_[cfg.module] = raw;
    return raw;
  }

  std::mutex mu_;
  std::map<std::string, ENGINE*> engines_;
};

class Pkcs11Signer final : public Signer {
 public:
  Pkcs11Signer(Pkcs11KeyConfig cfg, core::ossl::PKey priv, core::ossl::PKey pub)
      : cfg_(std::move(cfg)), priv_(std::move(priv)), pub_(std::move(pub)) {}

  Status SignCertificate(X509* cert) override {
    std::lock_guard lock(mu_);  // one signing operation per token session at a time
    if (X509_sign(cert, priv_.get(), Digest()) <= 0) {
      return Fail(core::ossl::LastError(ErrorCode::kUnavailable,
                                        "PKCS#11 signing failed on token " + cfg_.token));
    }
    return core::Ok();
  }
  Status SignCrl(X509_CRL* crl) override {
    std::lock_guard lock(mu_);
    if (X509_CRL_sign(crl, priv_.get(), Digest()) <= 0) {
      return Fail(core::ossl::LastError(ErrorCode::kUnavailable,
                                        "PKCS#11 CRL signing failed on token " + cfg_.token));
    }
    return core::Ok();
  }
  EVP_PKEY* public_key() const override { return pub_.get(); }
  std::string description() const override {
    return "pkcs11 module=" + cfg_.module + " token=" + cfg_.token + " key=" + cfg_.key_label;
  }

 private:
  const EVP_MD* Digest() const {
    return EVP_PKEY_get_bits(pub_.get()) == 384 ? EVP_sha384() : EVP_sha256();
  }
  Pkcs11KeyConfig cfg_;
  std::mutex mu_;
  core::ossl::PKey priv_;
  core::ossl::PKey pub_;
};

Result<std::string> ReadPin(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Fail(ConfigError("acme.ca.pkcs11.pin_file", "cannot read the PIN file " + path));
  }
  std::string pin;
  std::getline(in, pin);
  while (!pin.empty() && (pin.back() == '\r' || pin.back() == ' ')) pin.pop_back();
  if (pin.empty()) {
    return Fail(ConfigError("acme.ca.pkcs11.pin_file", "the PIN file " + path + " is empty"));
  }
  return pin;
}

// A software copy of the public half (the engine key object is only good for signing).
Result<core::ossl::PKey> PublicCopy(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return Fail(core::ossl::LastError(ErrorCode::kInternal, "i2d_PUBKEY"));
  const unsigned char* p = der;
  core::ossl::PKey out(d2i_PUBKEY(nullptr, &p, len));
  OPENSSL_free(der);
  if (!out) return Fail(core::ossl::LastError(ErrorCode::kInternal, "d2i_PUBKEY"));
  return out;
}

}  // namespace

Result<std::unique_ptr<Signer>> NewPkcs11Signer(const Pkcs11KeyConfig& cfg) {
  if (cfg.module.empty()) {
    return Fail(ConfigError("acme.ca.pkcs11.module", "no PKCS#11 module given"));
  }
  if (cfg.token.empty()) return Fail(ConfigError("acme.ca.pkcs11.token", "no token label given"));
  if (cfg.key_label.empty()) {
    return Fail(ConfigError("acme.ca.pkcs11.key_label", "no key label given"));
  }
  if (cfg.pin_file.empty()) {
    return Fail(ConfigError("acme.ca.pkcs11.pin_file", "no PIN file given"));
  }
  HP_ASSIGN_OR_RETURN(std::string pin, ReadPin(cfg.pin_file));
  const std::string uri = "pkcs11:token=" + UriEscape(cfg.token) +
                          ";object=" + UriEscape(cfg.key_label);
  HP_ASSIGN_OR_RETURN(auto loaded, EngineRegistry::Instance().Load(cfg, pin, uri));
  core::ossl::PKey priv = std::move(loaded.priv);
  core::ossl::PKey pub_obj = std::move(loaded.pub_obj);
  if (!priv) {
    const std::string& errs = loaded.errors;
    if (errs.find("PIN incorrect") != std::string::npos ||
        errs.find("PIN_INCORRECT") != std::string::npos) {
      return Fail(ConfigError("acme.ca.pkcs11.pin_file",
                              "wrong PIN for PKCS#11 token '" + cfg.token + "' (from " +
                                  cfg.pin_file + ")"));
    }
    if (errs.find("PIN locked") != std::string::npos ||
        errs.find("PIN_LOCKED") != std::string::npos) {
      return Fail(ConfigError("acme.ca.pkcs11.pin_file",
                              "the PIN of PKCS#11 token '" + cfg.token + "' is locked"));
    }
    if (!pub_obj) {
      return Fail(ConfigError(
          "acme.ca.pkcs11.key_label",
          "no key labelled '" + cfg.key_label + "' on a PKCS#11 token labelled '" + cfg.token +
              "' of " + cfg.module + " (check acme.ca.pkcs11.token too; `pkcs11-tool --module " +
              cfg.module + " --token-label " + cfg.token + " -O` lists the objects)"));
    }
    return Fail(ConfigError("acme.ca.pkcs11.key_label",
                            "cannot use the private key '" + cfg.key_label + "' on token '" +
                                cfg.token + "': " + (errs.empty() ? "login or lookup failed" : errs)));
  }
  HP_ASSIGN_OR_RETURN(auto pub, PublicCopy(pub_obj ? pub_obj.get() : priv.get()));
  const int id = EVP_PKEY_get_base_id(pub.get());
  if (id != EVP_PKEY_EC && id != EVP_PKEY_RSA) {
    return Fail(ConfigError("acme.ca.pkcs11.key_label",
                            "key '" + cfg.key_label + "' is neither ECDSA nor RSA"));
  }
  return std::unique_ptr<Signer>(new Pkcs11Signer(cfg, std::move(priv), std::move(pub)));
}

}  // namespace hp::acme
