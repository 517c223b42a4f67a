#pragma once
// Helpers for provisioning tests: a migrated store in a temp dir and libvirt test-driver hosts
// (one XML file per simulated host, so each host has private state).
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "hp/core/clock.h"
#include "hp/core/store.h"
#include "hp/provisioning/inventory.h"
#include "test_support.h"

namespace hp::provisioning::testing {

inline std::unique_ptr<core::Database> OpenDb(const std::string& dir) {
  core::DatabaseOptions o;
  o.path = dir + "/hp.db";
  o.synchronous_full = false;
  auto db = core::Database::Open(o);
  EXPECT_TRUE(db) << db.error().ToString();
  auto st = (*db)->Migrate({&core::CoreMigrations(), &ProvisioningMigrations()});
  EXPECT_TRUE(st) << st.error().ToString();
  return std::move(*db);
}

// Writes a libvirt test-driver node file with a "default" dir pool holding a template volume
// and returns its URI.
inline std::string MakeTestHost(const std::string& dir, const std::string& name,
                                const std::string& template_volume = "debian-12.qcow2") {
  const std::string pool = dir + "/" + name + "-pool";
  std::filesystem::create_directories(pool);
  const std::string path = dir + "/" + name + ".xml";
  std::ofstream f(path);
  f << "<node>\n"
       "  <cpu><nodes>1</nodes><sockets>1</sockets><cores>8</cores><threads>1</threads>"
       "<active>8</active><mhz>2000</mhz><model>x86_64</model></cpu>\n"
       "  <memory>16777216</memory>\n"
       "  <pool type='dir'><name>default</name><target><path>"
    << pool << "</path></target>\n"
    << "    <volume><name>" << template_volume
    << "</name><capacity unit='GiB'>2</capacity><target><format type='qcow2'/></target>"
       "</volume>\n"
       "  </pool>\n"
       "</node>\n";
  return "test://" + path;
}

inline HostSpec VpsHost(const std::string& name, const std::string& uri, const std::string& zone,
                        int64_t vcpus, int64_t ram_mib, int64_t disk_gib) {
  HostSpec s;
  s.name = name;
  s.uri = uri;
  s.zone = zone;
  s.kind = HostKind::kVps;
  s.capacity = {vcpus, ram_mib, disk_gib};
  s.reserved = {0, 0, 0};
  s.cpu_ratio = 1.0;
  s.ram_ratio = 1.0;
  s.disk_ratio = 1.0;
  return s;
}

}  // namespace hp::provisioning::testing
