#include "testing/acme_test_util.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include <openssl/core_names.h>

#include "hp/core/encoding.h"
#include "hp/core/random.h"

namespace hp::acme::testing {

namespace {
std::string BnBytes(EVP_PKEY* k, const char* name, size_t pad = 0) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, name, &bn);
  size_t len = std::max(pad, static_cast<size_t>(BN_num_bytes(bn)));
  std::string out(len, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(len));
  BN_free(bn);
  return out;
}
}  // namespace

TestKey MakeKey(const std::string& alg) {
  TestKey t;
  t.alg = alg;
  if (alg == "RS256") {
    t.key = std::move(*core::ossl::GenerateRsaKey(2048));
    t.jwk = {{"kty", "RSA"},
             {"n", core::Base64UrlEncode(BnBytes(t.key.get(), OSSL_PKEY_PARAM_RSA_N))},
             {"e", core::Base64UrlEncode(BnBytes(t.key.get(), OSSL_PKEY_PARAM_RSA_E))}};
  } else if (alg == "ES256" || alg == "ES384") {
    const bool p256 = alg == "ES256";
    t.key = std::move(*core::ossl::GenerateEcKey(p256 ? "P-256" : "P-384"));
    const size_t n = p256 ? 32 : 48;
    t.jwk = {{"kty", "EC"},
             {"crv", p256 ? "P-256" : "P-384"},
             {"x", core::Base64UrlEncode(BnBytes(t.key.get(), OSSL_PKEY_PARAM_EC_PUB_X, n))},
             {"y", core::Base64UrlEncode(BnBytes(t.key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, n))}};
  } else if (alg == "EdDSA") {
    t.key = std::move(*core::ossl::GenerateEd25519Key());
    std::string raw(32, '\0');
    size_t len = 32;
    EVP_PKEY_get_raw_public_key(t.key.get(), reinterpret_cast<unsigned char*>(raw.data()), &len);
    t.jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", core::Base64UrlEncode(raw)}};
  } else {
    throw std::runtime_error("unknown alg " + alg);
  }
  return t;
}

std::string SignRaw(const TestKey& key, const std::string& input, const std::string& alg_in) {
  const std::string alg = alg_in.empty() ? key.alg : alg_in;
  const EVP_MD* md = alg == "EdDSA" ? nullptr : alg == "ES384" ? EVP_sha384() : EVP_sha256();
  core::ossl::MdCtx ctx(EVP_MD_CTX_new());
  EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.key.get());
  size_t len = 0;
  EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  if (alg == "ES256" || alg == "ES384") {
    const size_t half = alg == "ES256" ? 32 : 48;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(2 * half, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()),
                 static_cast<int>(half));
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + half,
                 static_cast<int>(half));
    ECDSA_SIG_free(es);
    return raw;
  }
  return sig;
}

std::string SignJws(const TestKey& key, core::Json header, const std::string& payload) {
  if (!header.contains("alg")) header["alg"] = key.alg;
  const std::string prot = core::Base64UrlEncode(header.dump());
  const std::string pay = core::Base64UrlEncode(payload);
  const std::string sig = SignRaw(key, prot + "." + pay, header["alg"].get<std::string>());
  return core::Json{{"protected", prot}, {"payload", pay},
                    {"signature", core::Base64UrlEncode(sig)}}
      .dump();
}

std::string MakeCsr(EVP_PKEY* key, const std::vector<std::string>& names, const std::string& cn) {
  core::ossl::X509Req req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  if (!cn.empty()) {
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  }
  X509_REQ_set_pubkey(req.get(), key);
  if (!names.empty()) {
    std::string san;
    for (const auto& n : names) {
      unsigned char buf[16];
      const bool ip = inet_pton(AF_INET, n.c_str(), buf) == 1 || inet_pton(AF_INET6, n.c_str(), buf) == 1;
      san += (san.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + n;
    }
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
    sk_X509_EXTENSION_push(exts, ext);
    X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  const EVP_MD* md = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  X509_REQ_sign(req.get(), key, md);
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req.get(), &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

int Run(const std::string& cmd, std::string* out) {
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return -1;
  std::array<char, 4096> buf;
  std::string all;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) all.append(buf.data(), n);
  int rc = pclose(f);
  if (out) *out = all;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string TempDir() {
  std::string tmpl = "/tmp/hp-acme-test-XXXXXX";
  char* d = mkdtemp(tmpl.data());
  if (!d) throw std::runtime_error("mkdtemp");
  return d;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
}

}  // namespace hp::acme::testing

#include <curl/curl.h>

namespace hp::acme::testing {

namespace {
size_t Collect(char* p, size_t s, size_t n, void* u) {
  static_cast<std::string*>(u)->append(p, s * n);
  return s * n;
}
size_t CollectHeader(char* p, size_t s, size_t n, void* u) {
  std::string line(p, s * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    // Repeated fields (Link) are joined with ", " as RFC 9110 §5.3 allows.
    auto& h = (*static_cast<std::map<std::string, std::string>*>(u))[name];
    h = h.empty() ? value : h + ", " + value;
  }
  return s * n;
}
}  // namespace

HttpResult Http(const std::string& method, const std::string& url, const std::string& body,
                const std::string& content_type) {
  HttpResult r;
  CURL* c = curl_easy_init();
  curl_slist* hdrs = nullptr;
  if (method == "POST") {
    hdrs = curl_slist_append(hdrs, ("Content-Type: " + content_type).c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  } else if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  } else {
    r.body = std::string("curl error: ") + curl_easy_strerror(rc);
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return r;
}

AcmeClient::AcmeClient(std::string directory_url, std::string alg) : key(MakeKey(alg)) {
  dir = Http("GET", directory_url).json();
}

std::string AcmeClient::Nonce() {
  if (!nonce.empty()) return std::exchange(nonce, "");
  return Http("HEAD", dir["newNonce"].get<std::string>()).header("replay-nonce");
}

std::string AcmeClient::SignedBody(const std::string& url, const std::string& payload,
                                   bool use_jwk, const std::string& n) {
  core::Json h = {{"nonce", n}, {"url", url}};
  if (kid.empty() || use_jwk) h["jwk"] = key.jwk; else h["kid"] = kid;
  return SignJws(key, h, payload);
}

HttpResult AcmeClient::Post(const std::string& url, const std::string& payload, bool use_jwk) {
  return PostRaw(url, SignedBody(url, payload, use_jwk, Nonce()));
}

HttpResult AcmeClient::PostRaw(const std::string& url, const std::string& body,
                               const std::string& content_type) {
  auto r = Http("POST", url, body, content_type);
  nonce = r.header("replay-nonce");
  return r;
}

HttpResult AcmeClient::Register(const core::Json& extra) {
  core::Json p = {{"termsOfServiceAgreed", true}, {"contact", {"mailto:admin@example.test"}}};
  p.update(extra);
  auto r = Post(dir["newAccount"], p.dump(), true);
  if (r.status == 201 || r.status == 200) kid = r.header("location");
  return r;
}

}  // namespace hp::acme::testing
