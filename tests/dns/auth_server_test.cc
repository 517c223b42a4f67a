// The built-in authoritative server: differential test against a real Knot on the same zone
// file, change propagation, AXFR + NOTIFY to a Knot secondary, and malformed-packet resilience.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>

#include <gtest/gtest.h>

#include "dns_test_util.h"
#include "server_fixture.h"
#include "test_zone.h"

namespace hp::dns::testing {
namespace {

struct Q {
  std::string name;
  ldns_rr_type type;
  QueryOptions opts = {};
};

std::vector<Q> DiffQueries() {
  const QueryOptions tcp{.tcp = true};
  const QueryOptions noedns{.edns = false};
  return {
      {"example.test.", LDNS_RR_TYPE_SOA},
      {"example.test.", LDNS_RR_TYPE_SOA, noedns},
      {"example.test.", LDNS_RR_TYPE_NS},
      {"example.test.", LDNS_RR_TYPE_A},
      {"example.test.", LDNS_RR_TYPE_AAAA},
      {"example.test.", LDNS_RR_TYPE_MX},
      {"example.test.", LDNS_RR_TYPE_TXT},
      {"example.test.", LDNS_RR_TYPE_CAA},
      {"example.test.", LDNS_RR_TYPE_ANY},
      {"example.test.", LDNS_RR_TYPE_ANY, tcp},
      {"example.test.", LDNS_RR_TYPE_SRV},
      {"www.example.test.", LDNS_RR_TYPE_A},
      {"www.example.test.", LDNS_RR_TYPE_AAAA},
      {"www.example.test.", LDNS_RR_TYPE_CNAME},
      {"WWW.Example.TEST.", LDNS_RR_TYPE_A},
      {"alias.example.test.", LDNS_RR_TYPE_A},
      {"alias.example.test.", LDNS_RR_TYPE_TXT},
      {"alias.example.test.", LDNS_RR_TYPE_CNAME},
      {"ext.example.test.", LDNS_RR_TYPE_A},
      {"dangling.example.test.", LDNS_RR_TYPE_A},
      {"nope.example.test.", LDNS_RR_TYPE_A},
      {"nope.nope.example.test.", LDNS_RR_TYPE_AAAA},
      {"mail.example.test.", LDNS_RR_TYPE_A},
      {"mail.example.test.", LDNS_RR_TYPE_MX},
      {"ns1.example.test.", LDNS_RR_TYPE_AAAA},
      {"foo.wild.example.test.", LDNS_RR_TYPE_A},
      {"foo.wild.example.test.", LDNS_RR_TYPE_TXT},
      {"foo.wild.example.test.", LDNS_RR_TYPE_MX},
      {"foo.wild.example.test.", LDNS_RR_TYPE_ANY},
      {"a.b.wild.example.test.", LDNS_RR_TYPE_A},
      {"sub.wild.example.test.", LDNS_RR_TYPE_A},
      {"sub.wild.example.test.", LDNS_RR_TYPE_TXT},
      {"x.sub.wild.example.test.", LDNS_RR_TYPE_A},
      {"x.cw.example.test.", LDNS_RR_TYPE_A},
      {"c.example.test.", LDNS_RR_TYPE_A},
      {"b.c.example.test.", LDNS_RR_TYPE_TXT},
      {"deep.a.b.c.example.test.", LDNS_RR_TYPE_A},
      {"zz.b.c.example.test.", LDNS_RR_TYPE_A},
      {"caa.example.test.", LDNS_RR_TYPE_CAA},
      {"caa.example.test.", LDNS_RR_TYPE_A},
      {"long.example.test.", LDNS_RR_TYPE_TXT},
      {"long.example.test.", LDNS_RR_TYPE_TXT, tcp},
      {"big.example.test.", LDNS_RR_TYPE_TXT, tcp},
      {"big.example.test.", LDNS_RR_TYPE_TXT},
      {"_sip._tcp.example.test.", LDNS_RR_TYPE_SRV},
      {"delegated.example.test.", LDNS_RR_TYPE_A},
      {"delegated.example.test.", LDNS_RR_TYPE_NS},
      {"host.delegated.example.test.", LDNS_RR_TYPE_A},
      {"ns.delegated.example.test.", LDNS_RR_TYPE_A},
      {"delegated.example.test.", LDNS_RR_TYPE_DS},
      {"ptr.example.test.", LDNS_RR_TYPE_PTR},
      {"txtonly.example.test.", LDNS_RR_TYPE_TXT},
      {"txtonly.example.test.", LDNS_RR_TYPE_A, tcp},
      {"other.test.", LDNS_RR_TYPE_A},
      {"sip.example.test.", LDNS_RR_TYPE_AAAA, noedns},
  };
}

TEST(DnsAuthServerTest, AnswersLikeKnotOnTheSameZoneFile) {
  ServerFixture f;
  f.Init();
  auto zone = f.zones->ImportZoneFile("org1", "example.test", DiffZoneText());
  ASSERT_TRUE(zone) << zone.error().ToString();
  f.StartServer();
  Knot knot({{.name = "example.test", .file_text = DiffZoneText()}});
  std::string err = knot.Start();
  ASSERT_EQ(err, "");

  auto queries = DiffQueries();
  ASSERT_GE(queries.size(), 40u);
  int compared = 0;
  for (const Q& q : queries) {
    Packet ours = Query(f.port(), q.name, q.type, q.opts);
    Packet theirs = Query(knot.port(), q.name, q.type, q.opts);
    ASSERT_TRUE(theirs) << "knot did not answer " << q.name;
    ASSERT_TRUE(ours) << "built-in server did not answer " << q.name;
    EXPECT_EQ(Normalize(ours.get()), Normalize(theirs.get()))
        << q.name << " " << ldns_rr_type2str(q.type) << (q.opts.tcp ? " tcp" : " udp")
        << (q.opts.edns ? "" : " no-edns");
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(queries.size()));
}

TEST(DnsAuthServerTest, ServesChangesWithBumpedSerial) {
  ServerFixture f;
  f.Init();
  auto zone = f.zones->CreateZone("org1", {.name = "shop.test", .nameservers = {"ns1.host.test"}});
  ASSERT_TRUE(zone);
  f.StartServer();
  Packet before = Query(f.port(), "www.shop.test.", LDNS_RR_TYPE_A);
  ASSERT_TRUE(before);
  EXPECT_EQ(ldns_pkt_get_rcode(before.get()), LDNS_RCODE_NXDOMAIN);
  auto rec = f.zones->AddRecord("org1", zone->id, {"www", "A", 300, "198.51.100.7"});
  ASSERT_TRUE(rec) << rec.error().ToString();
  bool served = PollUntil(
      [&] {
        Packet p = Query(f.port(), "www.shop.test.", LDNS_RR_TYPE_A);
        return p && ldns_pkt_ancount(p.get()) == 1;
      },
      std::chrono::seconds(5));
  EXPECT_TRUE(served);
  Packet soa = Query(f.port(), "shop.test.", LDNS_RR_TYPE_SOA);
  ASSERT_TRUE(soa && ldns_pkt_ancount(soa.get()) == 1);
  EXPECT_EQ(ldns_rdf2native_int32(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(soa.get()), 0), 2)),
            2u);
  // Deleting the zone stops service: REFUSED, as for any zone we do not serve.
  ASSERT_TRUE(f.zones->DeleteZone("org1", zone->id));
  EXPECT_TRUE(PollUntil(
      [&] {
        Packet p = Query(f.port(), "www.shop.test.", LDNS_RR_TYPE_A);
        return p && ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_REFUSED;
      },
      std::chrono::seconds(5)));
}

TEST(DnsAuthServerTest, KnotSecondaryFollowsByAxfrAndNotify) {
  ServerFixture f;
  f.Init();
  auto zone = f.zones->CreateZone("org1", {.name = "sec.test", .nameservers = {"ns1.sec.test"}});
  ASSERT_TRUE(zone);
  ASSERT_TRUE(f.zones->AddRecord("org1", zone->id, {"ns1", "A", {}, "192.0.2.53"}));
  int knot_port = FreePort();
  AuthServerOptions opts;
  opts.transfer_allow = {"127.0.0.1"};
  opts.notify = {"127.0.0.1:" + std::to_string(knot_port)};
  f.StartServer(opts);
  Knot secondary({{.name = "sec.test", .primary = "127.0.0.1@" + std::to_string(f.port())}});
  secondary.set_port(knot_port);
  ASSERT_EQ(secondary.Start(), "");
  // The initial AXFR.
  EXPECT_TRUE(PollUntil(
      [&] {
        Packet p = Query(knot_port, "ns1.sec.test.", LDNS_RR_TYPE_A);
        return p && ldns_pkt_ancount(p.get()) == 1;
      },
      std::chrono::seconds(10)))
      << ReadFile(secondary.dir() + "/knot.log");
  // A change reaches the secondary through NOTIFY (its SOA refresh is an hour away).
  ASSERT_TRUE(f.zones->AddRecord("org1", zone->id, {"www", "A", {}, "192.0.2.80"}));
  EXPECT_TRUE(PollUntil(
      [&] {
        Packet p = Query(knot_port, "www.sec.test.", LDNS_RR_TYPE_A);
        return p && ldns_pkt_ancount(p.get()) == 1;
      },
      std::chrono::seconds(10)))
      << ReadFile(secondary.dir() + "/knot.log");
  EXPECT_GE(f.server->stats().notifies_acked, 1u);
}

TEST(DnsAuthServerTest, RefusesTransferToUnlistedClients) {
  ServerFixture f;
  f.Init();
  auto zone = f.zones->CreateZone("org1", {.name = "closed.test", .nameservers = {"ns1.x.test"}});
  ASSERT_TRUE(zone);
  f.StartServer();  // transfer_allow is empty
  Packet p = Query(f.port(), "closed.test.", LDNS_RR_TYPE_AXFR, {.tcp = true});
  ASSERT_TRUE(p);
  EXPECT_EQ(ldns_pkt_get_rcode(p.get()), LDNS_RCODE_NOTAUTH);
  EXPECT_EQ(ldns_pkt_ancount(p.get()), 0u);
}

// Sends a query and waits for the answer over a raw UDP socket.
bool AnswersNormally(int port) {
  Packet p = Query(port, "www.example.test.", LDNS_RR_TYPE_A, {.edns = false});
  return p && ldns_pkt_get_rcode(p.get()) == LDNS_RCODE_NOERROR && ldns_pkt_ancount(p.get()) == 2;
}

std::vector<uint8_t> WireQuery(const std::string& name, ldns_rr_type type) {
  ldns_pkt* q = nullptr;
  ldns_pkt_query_new_frm_str(&q, name.c_str(), type, LDNS_RR_CLASS_IN, LDNS_RD);
  uint8_t* wire = nullptr;
  size_t size = 0;
  ldns_pkt2wire(&wire, q, &size);
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);
  ldns_pkt_free(q);
  return out;
}

TEST(DnsAuthServerTest, SurvivesTenThousandMalformedPackets) {
  ServerFixture f;
  f.Init();
  ASSERT_TRUE(f.zones->ImportZoneFile("org1", "example.test", DiffZoneText()));
  f.StartServer();
  ASSERT_TRUE(AnswersNormally(f.port()));

  std::mt19937 rng(12345);
  auto byte = [&] { return static_cast<uint8_t>(rng() & 0xff); };
  std::vector<uint8_t> valid = WireQuery("www.example.test.", LDNS_RR_TYPE_A);
  int sock = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(static_cast<uint16_t>(f.port()));
  int sent = 0;
  for (int i = 0; i < 10500; ++i) {
    std::vector<uint8_t> pkt;
    switch (i % 7) {
      case 0:  // truncated valid query
        pkt.assign(valid.begin(), valid.begin() + static_cast<long>(rng() % valid.size()));
        break;
      case 1: {  // qname is a compression pointer to itself (a loop)
        pkt = {byte(), byte(), 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1};
        break;
      }
      case 2: {  // two pointers pointing at each other
        pkt = {byte(), byte(), 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0,
               0x01, 'a', 0xc0, 0x12, 0xc0, 0x0e, 0, 1, 0, 1};
        break;
      }
      case 3: {  // oversized label (length 64..255) claiming more bytes than sent
        pkt = {byte(), byte(), 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
        uint8_t len = static_cast<uint8_t>(64 + rng() % 192);
        pkt.push_back(len);
        for (int k = 0; k < len; ++k) pkt.push_back('x');
        pkt.insert(pkt.end(), {0, 0, 1, 0, 1});
        break;
      }
      case 4: {  // random bytes
        pkt.resize(rng() % 600);
        for (auto& b : pkt) b = byte();
        break;
      }
      case 5: {  // valid query with random bit flips
        pkt = valid;
        for (int k = 0; k < 3; ++k) pkt[rng() % pkt.size()] ^= static_cast<uint8_t>(1 << (rng() % 8));
        break;
      }
      default: {  // header claiming huge counts
        pkt = valid;
        pkt[4] = pkt[6] = pkt[8] = pkt[10] = 0xff;
        break;
      }
    }
    sendto(sock, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    ++sent;
    // Drain whatever came back so our receive buffer never fills.
    uint8_t junk[4096];
    while (recv(sock, junk, sizeof junk, MSG_DONTWAIT) > 0) {
    }
    if (i % 1000 == 999) {
      ASSERT_TRUE(AnswersNormally(f.port())) << "after " << sent << " malformed packets";
    }
  }
  close(sock);
  // Garbage over TCP, and a client that sends half a length prefix and stalls.
  for (int i = 0; i < 20; ++i) {
    int t = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(connect(t, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    std::vector<uint8_t> g(2 + rng() % 300);
    for (auto& b : g) b = byte();
    send(t, g.data(), g.size(), MSG_NOSIGNAL);
    close(t);
  }
  int stall = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(stall, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  uint8_t half = 0x00;
  send(stall, &half, 1, MSG_NOSIGNAL);
  EXPECT_GE(sent, 10000);
  EXPECT_TRUE(AnswersNormally(f.port()));
  Packet tcp = Query(f.port(), "www.example.test.", LDNS_RR_TYPE_A, {.tcp = true});
  ASSERT_TRUE(tcp);
  EXPECT_EQ(ldns_pkt_ancount(tcp.get()), 2u);
  EXPECT_GT(f.server->stats().malformed, 1000u);
  close(stall);
}

}  // namespace
}  // namespace hp::dns::testing
