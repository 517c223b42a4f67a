#pragma once
// The zone used by the differential test (built-in server vs Knot) and the benchmark.

#include <string>

namespace hp::dns::testing {

inline std::string DiffZoneText() {
  std::string long1(200, 'a');
  std::string long2(255, 'b');
  std::string long3 = "spaces and \\\"quotes\\\" and ;semicolons";
  std::string big;
  for (int i = 0; i < 8; ++i) big += " \"" + std::string(250, static_cast<char>('c' + i)) + "\"";
  return R"($ORIGIN example.test.
$TTL 3600
@        IN SOA ns1.example.test. hostmaster.example.test. 2024010101 3600 900 1209600 300
@        NS    ns1
@        NS    ns2.example.test.
ns1      A     192.0.2.1
ns2      AAAA  2001:db8::2
@        A     192.0.2.10
@        AAAA  2001:db8::10
@        MX    10 mail
@        MX    20 mail.other.test.
mail     A     192.0.2.20
mail     A     192.0.2.21
@        TXT   "v=spf1 -all"
long     TXT   ")" + long1 + R"(" ")" + long2 + R"(" ")" + long3 + R"("
big      TXT  )" + big + R"(
www      CNAME @
alias    CNAME www
ext      CNAME target.other.test.
dangling CNAME missing
*.wild   A     192.0.2.98
*.wild   TXT   "wild"
sub.wild A     192.0.2.97
*.cw     CNAME www
deep.a.b.c A   192.0.2.50
@        CAA   0 issue "ca.example"
@        CAA   0 issuewild ";"
@        CAA   0 iodef "mailto:security@example.test"
caa      CAA   128 tbs "unknown"
_sip._tcp SRV  10 5 5060 sip
sip      A     192.0.2.30
sip      AAAA  2001:db8::30
delegated NS   ns.delegated
delegated NS   ns.elsewhere.test.
ns.delegated A 192.0.2.40
ptr      PTR   host.example.test.
txtonly  TXT   "only text here"
)";
}

}  // namespace hp::dns::testing
