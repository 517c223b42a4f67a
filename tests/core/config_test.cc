#include "hp/core/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace hp::core {
namespace {

ConfigSchema Schema() {
  ConfigSchema s;
  s.Add({.key = "http.listen", .default_value = "127.0.0.1:8443", .doc = "addr", .validate = ValidateHostPort});
  s.Add({.key = "http.threads", .type = ConfigType::kInt, .default_value = "2", .doc = "n", .min = 1, .max = 64});
  s.Add({.key = "log.level", .default_value = "info", .doc = "lvl", .allowed = {"debug", "info"}});
  s.Add({.key = "store.wal", .type = ConfigType::kBool, .default_value = "true", .doc = "b"});
  return s;
}

std::string WriteTemp(const std::string& text) {
  char path[] = "/tmp/hp-config-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(Config, DefaultsFileEnvAndOverridesInThatOrder) {
  auto file = WriteTemp(R"({"http": {"listen": "127.0.0.1:9000", "threads": 4}})");
  auto cfg = LoadConfig(Schema(), file, {{"HOSTPLANE_HTTP_THREADS", "8"}, {"PATH", "/bin"}});
  ASSERT_TRUE(cfg) << cfg.error().ToString();
  EXPECT_EQ(cfg->GetString("http.listen"), "127.0.0.1:9000");
  EXPECT_EQ(cfg->GetInt("http.threads"), 8);
  EXPECT_EQ(cfg->GetString("log.level"), "info");
  EXPECT_TRUE(cfg->GetBool("store.wal"));
  auto over = LoadConfig(Schema(), file, {{"HOSTPLANE_HTTP_LISTEN", "[::1]:1"}}, {{"http.listen", "127.0.0.1:2"}});
  ASSERT_TRUE(over);
  EXPECT_EQ(over->GetString("http.listen"), "127.0.0.1:2");
  std::remove(file.c_str());
}

// Good/bad pairs: every bad value is refused with an error naming the key.
TEST(Config, BadValuesNameTheKey) {
  struct Case {
    std::map<std::string, std::string> env;
    std::string key;
  } cases[] = {
      {{{"HOSTPLANE_HTTP_LISTEN", "127.0.0.1:70000"}}, "http.listen"},
      {{{"HOSTPLANE_HTTP_LISTEN", "no-port"}}, "http.listen"},
      {{{"HOSTPLANE_HTTP_THREADS", "0"}}, "http.threads"},
      {{{"HOSTPLANE_HTTP_THREADS", "two"}}, "http.threads"},
      {{{"HOSTPLANE_LOG_LEVEL", "loud"}}, "log.level"},
      {{{"HOSTPLANE_STORE_WAL", "maybe"}}, "store.wal"},
      {{{"HOSTPLANE_NO_SUCH_KEY", "1"}}, "HOSTPLANE_NO_SUCH_KEY"},
  };
  for (const auto& c : cases) {
    auto r = LoadConfig(Schema(), std::nullopt, c.env);
    ASSERT_FALSE(r) << c.key;
    EXPECT_NE(r.error().ToString().find(c.key), std::string::npos) << r.error().ToString();
  }
  EXPECT_TRUE(LoadConfig(Schema(), std::nullopt, {{"HOSTPLANE_HTTP_LISTEN", "127.0.0.1:65535"}}));
}

TEST(Config, UnknownAndMistypedFileKeysAreRefused) {
  auto unknown = WriteTemp(R"({"http": {"listn": "127.0.0.1:1"}})");
  auto r = LoadConfig(Schema(), unknown, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().ToString().find("http.listn"), std::string::npos);
  auto typed = WriteTemp(R"({"http": {"threads": [1]}})");
  r = LoadConfig(Schema(), typed, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().ToString().find("http.threads"), std::string::npos);
  auto broken = WriteTemp("{not json");
  r = LoadConfig(Schema(), broken, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().ToString().find(broken), std::string::npos);
  EXPECT_FALSE(LoadConfig(Schema(), std::string("/nonexistent/hp.json"), {}));
  for (auto* f : {&unknown, &typed, &broken}) std::remove(f->c_str());
}

TEST(Config, MarkdownDocumentsEveryKey) {
  std::string md = Schema().Markdown();
  for (const char* k : {"http.listen", "HOSTPLANE_HTTP_THREADS", "Range 1...64", "`debug`"})
    EXPECT_NE(md.find(k), std::string::npos) << k;
}

}  // namespace
}  // namespace hp::core
