#pragma once
// ldns objects in unique_ptrs with their free functions, and small conversions.

// ldns/common.h redefines bool/true/false unless stdbool.h came first.
#include <stdbool.h>  // NOLINT

#include <ldns/ldns.h>

#include <memory>
#include <string>
#include <string_view>

namespace hp::dns::internal {

template <auto Fn>
struct LdnsDeleter {
  template <typename T>
  void operator()(T* p) const {
    if (p) Fn(p);
  }
};
using RrPtr = std::unique_ptr<ldns_rr, LdnsDeleter<ldns_rr_free>>;
using RrListPtr = std::unique_ptr<ldns_rr_list, LdnsDeleter<ldns_rr_list_deep_free>>;
using PktPtr = std::unique_ptr<ldns_pkt, LdnsDeleter<ldns_pkt_free>>;
using RdfPtr = std::unique_ptr<ldns_rdf, LdnsDeleter<ldns_rdf_deep_free>>;
using ResolverPtr = std::unique_ptr<ldns_resolver, LdnsDeleter<ldns_resolver_deep_free>>;
using BufferPtr = std::unique_ptr<ldns_buffer, LdnsDeleter<ldns_buffer_free>>;

// Takes ownership of a malloc'ed C string.
inline std::string TakeCString(char* s) {
  if (!s) return {};
  std::string out(s);
  free(s);
  return out;
}
inline std::string RdfToString(const ldns_rdf* rdf) { return TakeCString(ldns_rdf2str(rdf)); }
inline std::string RrToString(const ldns_rr* rr) {
  std::string s = TakeCString(ldns_rr2str(rr));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
// The RDATA of `rr` in presentation format, fields joined by one space.
inline std::string RrDataToString(const ldns_rr* rr) {
  std::string out;
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    if (i) out += ' ';
    out += RdfToString(ldns_rr_rdf(rr, i));
  }
  return out;
}
inline std::string TypeToString(ldns_rr_type t) {
  return TakeCString(ldns_rr_type2str(t));
}
// Lower-case absolute presentation of a dname rdf ("www.example.com.").
inline std::string DnameToString(const ldns_rdf* rdf) {
  std::string s = RdfToString(rdf);
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}
inline RdfPtr MakeDname(std::string_view name) {
  return RdfPtr(ldns_dname_new_frm_str(std::string(name).c_str()));
}

}  // namespace hp::dns::internal
