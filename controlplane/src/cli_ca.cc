// `hostplane ca ...`: operator commands of the certificate authority under var_dir/ca.
//   ca show [--json]                        hierarchy, key types, fingerprints, validity, signer
//   ca rotate-intermediate [--key-type ecdsa|rsa]
//   ca use-pkcs11 --module PATH --token LABEL --key-label LABEL --pin-file F
// They work on the CA files directly; a running `hostplane serve` picks a new active
// intermediate up at its next start.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "hp/acme/ca.h"
#include "hp/core/json.h"
#include "hp/core/log.h"
#include "settings.h"

namespace hp::cp {
namespace {

constexpr const char* kCaUsage = R"(usage: hostplane ca <command> [--config FILE] [--var DIR]

  show [--json]              the hierarchy: root and intermediates with key type, SHA-256
                             fingerprint, validity, which one is active and where its key is
  rotate-intermediate [--key-type ecdsa|rsa]
                             create a new intermediate (file key) and make it the active one of
                             its kind; the old one keeps serving its CRL (default: ecdsa)
  use-pkcs11 --module PATH --token LABEL --key-label LABEL --pin-file F
                             make the key pair on a PKCS#11 token the active intermediate of its
                             kind (ECDSA or RSA); the private key never leaves the token. Each
                             flag defaults to its config key acme.ca.pkcs11.{module,token,
                             key_label,pin_file}

  Changes take effect when hostplane serve next starts.
)";

int Usage(const std::string& err) {
  if (!err.empty()) std::fprintf(stderr, "hostplane: %s\n\n", err.c_str());
  std::fputs(kCaUsage, err.empty() ? stdout : stderr);
  return err.empty() ? 0 : 2;
}

int Fail(const core::Error& e, int code = 1) {
  std::fprintf(stderr, "hostplane: %s\n", e.ToString().c_str());
  return code;
}

std::string BaseUrl(const core::Config& cfg) {
  std::string u = cfg.GetString("http.public_url");
  if (u.empty()) u = "https://localhost";
  while (u.size() > 1 && u.back() == '/') u.pop_back();
  return u;
}

// The config value of `key` when the schema has it (acme.ca.pkcs11.* come with the acme module).
std::string ConfigValue(const core::Config& cfg, const std::string& key) {
  auto it = cfg.values().find(key);
  return it == cfg.values().end() ? "" : it->second;
}

core::Result<std::string> ReadPassphrase(const core::Config& cfg) {
  std::string path = ConfigValue(cfg, "acme.ca_passphrase_file");
  if (path.empty()) path = cfg.GetString("var_dir") + "/keys/acme-ca.pass";
  std::ifstream in(path);
  std::string pass;
  if (in) std::getline(in, pass);
  if (pass.empty()) {
    return core::Fail(core::Error(core::ErrorCode::kInvalidArgument,
                                  "cannot read the CA passphrase from " + path +
                                      " (config key 'acme.ca_passphrase_file')")
                          .WithField("acme.ca_passphrase_file"));
  }
  return pass;
}

core::Result<std::unique_ptr<acme::CertificateAuthority>> OpenCa(const core::Config& cfg,
                                                                 bool inspect) {
  acme::CaOptions o;
  o.dir = cfg.GetString("var_dir") + "/ca";
  o.base_url = BaseUrl(cfg);
  o.inspect_only = inspect;
  if (!inspect) {
    HP_ASSIGN_OR_RETURN(std::string pass, ReadPassphrase(cfg));
    o.passphrase = core::Secret(std::move(pass));
    if (!std::filesystem::exists(o.dir + "/root.key")) {
      return core::Fail(core::ErrorCode::kNotFound,
                        "no CA hierarchy under " + o.dir + " (hostplane serve creates it)");
    }
  }
  return acme::CertificateAuthority::Create(std::move(o), core::SystemClock::Instance());
}

std::string Kind(acme::LeafKeyKind k) { return k == acme::LeafKeyKind::kRsa ? "rsa" : "ecdsa"; }

core::Json InfoJson(const acme::IssuerInfo& i, bool root) {
  core::Json j = {{"id", i.id},
                  {"subject", i.subject},
                  {"key_type", i.key_type},
                  {"sha256_fingerprint", i.sha256_fingerprint},
                  {"not_before", core::FormatRfc3339(i.not_before)},
                  {"not_after", core::FormatRfc3339(i.not_after)},
                  {"signer", i.signer}};
  if (!root) {
    j["kind"] = Kind(i.kind);
    j["active"] = i.active;
    j["crl_url"] = i.crl_url;
  }
  return j;
}

void PrintInfo(const acme::IssuerInfo& i, bool root) {
  std::printf("%-6s %-7s %-12s %s\n", i.id.c_str(),
              root ? "root" : (i.active ? "ACTIVE" : "retired"), i.key_type.c_str(),
              i.subject.c_str());
  std::printf("       sha256  %s\n", i.sha256_fingerprint.c_str());
  std::printf("       valid   %s .. %s\n", core::FormatRfc3339(i.not_before).c_str(),
              core::FormatRfc3339(i.not_after).c_str());
  std::printf("       signer  %s\n", i.signer.c_str());
  if (!root) std::printf("       leaves  %s keys, CRL %s\n", Kind(i.kind).c_str(), i.crl_url.c_str());
}

int Show(const core::Config& cfg, bool json) {
  auto ca = OpenCa(cfg, true);
  if (!ca) return Fail(ca.error(), 1);
  const auto root = (*ca)->root();
  const auto issuers = (*ca)->issuers();
  if (json) {
    core::Json out = {{"dir", cfg.GetString("var_dir") + "/ca"},
                      {"root", InfoJson(root, true)},
                      {"intermediates", core::Json::array()}};
    for (const auto& i : issuers) out["intermediates"].push_back(InfoJson(i, false));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("CA %s/ca\n\n", cfg.GetString("var_dir").c_str());
  PrintInfo(root, true);
  for (const auto& i : issuers) {
    std::printf("\n");
    PrintInfo(i, false);
  }
  return 0;
}

int Rotate(const core::Config& cfg, const std::map<std::string, std::string>& opts) {
  std::string type = opts.count("--key-type") ? opts.at("--key-type") : "ecdsa";
  if (type != "ecdsa" && type != "rsa") return Usage("--key-type must be ecdsa or rsa");
  auto ca = OpenCa(cfg, false);
  if (!ca) return Fail(ca.error(), 1);
  auto id = (*ca)->RotateIssuer(type == "rsa" ? acme::LeafKeyKind::kRsa
                                              : acme::LeafKeyKind::kEcdsa);
  if (!id) return Fail(id.error(), 1);
  auto info = (*ca)->issuer(*id);
  std::printf("new active %s intermediate %s (%s, sha256 %s)\n", type.c_str(), id->c_str(),
              info ? info->key_type.c_str() : "?", info ? info->sha256_fingerprint.c_str() : "?");
  if (!ConfigValue(cfg, "acme.ca.pkcs11.module").empty()) {
    std::printf("note: acme.ca.pkcs11.* is configured, so hostplane serve makes the token key "
                "active again when it starts\n");
  }
  std::printf("restart hostplane serve to issue from it\n");
  return 0;
}

int UsePkcs11(const core::Config& cfg, const std::map<std::string, std::string>& opts) {
  auto pick = [&](const std::string& flag, const std::string& key) {
    return opts.count(flag) ? opts.at(flag) : ConfigValue(cfg, key);
  };
  acme::Pkcs11KeyConfig p;
  p.module = pick("--module", "acme.ca.pkcs11.module");
  p.token = pick("--token", "acme.ca.pkcs11.token");
  p.key_label = pick("--key-label", "acme.ca.pkcs11.key_label");
  p.pin_file = pick("--pin-file", "acme.ca.pkcs11.pin_file");
  if (p.module.empty() || p.token.empty() || p.key_label.empty() || p.pin_file.empty()) {
    return Usage("use-pkcs11 needs --module, --token, --key-label and --pin-file (or the config "
                 "keys acme.ca.pkcs11.*)");
  }
  if (!p.pin_file.empty() && p.pin_file[0] != '/') {
    p.pin_file = std::filesystem::absolute(p.pin_file).string();  // serve may run elsewhere
  }
  auto ca = OpenCa(cfg, false);
  if (!ca) return Fail(ca.error(), 1);
  auto id = (*ca)->UsePkcs11Issuer(p);
  if (!id) return Fail(id.error(), 1);
  auto info = (*ca)->issuer(*id);
  std::printf("active %s intermediate %s is the key '%s' on token '%s' (%s, sha256 %s)\n",
              info ? Kind(info->kind).c_str() : "?", id->c_str(), p.key_label.c_str(),
              p.token.c_str(), info ? info->key_type.c_str() : "?",
              info ? info->sha256_fingerprint.c_str() : "?");
  std::printf("restart hostplane serve to issue from it\n");
  return 0;
}

}  // namespace

int RunCaCommand(int argc, char** argv) {
  std::vector<std::string> pos;
  std::map<std::string, std::string> opts;
  bool json = false;
  const std::vector<std::string> with_value = {"--config", "--var",   "--key-type", "--module",
                                               "--token",  "--key-label", "--pin-file"};
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") return Usage("");
    if (a == "--json") {
      json = true;
      continue;
    }
    if (a.rfind("--", 0) == 0) {
      std::string value;
      const auto eq = a.find('=');
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return Usage("option " + a + " needs a value");
      }
      if (std::find(with_value.begin(), with_value.end(), a) == with_value.end()) {
        return Usage("unknown option " + a);
      }
      opts[a] = value;
      continue;
    }
    pos.push_back(a);
  }
  if (pos.empty()) return Usage("ca needs a command: show, rotate-intermediate, use-pkcs11");
  CommonFlags flags;
  flags.dev = true;  // only the CA files are touched: no TLS settings needed
  if (opts.count("--config")) flags.config_file = opts.at("--config");
  if (opts.count("--var")) flags.var_dir = opts.at("--var");
  auto cfg = LoadSettings(flags);
  if (!cfg) return Fail(cfg.error(), 2);
  core::log::SetLevel(core::log::Level::kWarn);
  const std::string& cmd = pos[0];
  if (cmd == "show") return Show(*cfg, json);
  if (cmd == "rotate-intermediate") return Rotate(*cfg, opts);
  if (cmd == "use-pkcs11") return UsePkcs11(*cfg, opts);
  return Usage("unknown ca command " + cmd);
}

}  // namespace hp::cp
