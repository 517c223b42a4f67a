// The cloud-init NoCloud seed as a minimal ISO 9660 image: one root directory with three files,
// volume id "cidata" (what cloud-init looks for).
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "hp/provisioning/vps.h"

namespace hp::provisioning {
namespace {

constexpr size_t kSector = 2048;

void Both16(std::string& s, size_t off, uint16_t v) {
  s[off] = static_cast<char>(v & 0xff);
  s[off + 1] = static_cast<char>(v >> 8);
  s[off + 2] = static_cast<char>(v >> 8);
  s[off + 3] = static_cast<char>(v & 0xff);
}
void Both32(std::string& s, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    s[off + i] = static_cast<char>((v >> (8 * i)) & 0xff);
    s[off + 7 - i] = static_cast<char>((v >> (8 * i)) & 0xff);
  }
}
void Le32(std::string& s, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[off + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void Be32(std::string& s, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[off + 3 - i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void Padded(std::string& s, size_t off, size_t len, std::string_view text) {
  for (size_t i = 0; i < len; ++i) s[off + i] = i < text.size() ? text[i] : ' ';
}

// A directory record for `name` ("\0" for ".", "\1" for "..").
std::string DirRecord(std::string_view name, uint32_t lba, uint32_t size, bool dir) {
  size_t len = 33 + name.size();
  if (len % 2) ++len;
  std::string r(len, '\0');
  r[0] = static_cast<char>(len);
  Both32(r, 2, lba);
  Both32(r, 10, size);
  // Recording date: 2000-01-01 00:00:00 UTC (deterministic images).
  r[18] = 100;
  r[19] = 1;
  r[20] = 1;
  r[25] = dir ? 2 : 0;
  Both16(r, 28, 1);
  r[32] = static_cast<char>(name.size());
  std::memcpy(r.data() + 33, name.data(), name.size());
  return r;
}

std::string Yaml(const std::string& s) {  // a double-quoted YAML scalar
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string Iso(const std::vector<std::pair<std::string, std::string>>& files) {
  // Layout: 0-15 system area, 16 PVD, 17 terminator, 18 L path table, 19 M path table,
  // 20 root directory, 21.. file data.
  const uint32_t root_lba = 20;
  uint32_t next = 21;
  std::vector<uint32_t> lbas;
  for (const auto& [name, data] : files) {
    lbas.push_back(next);
    next += static_cast<uint32_t>((data.size() + kSector - 1) / kSector);
    if (data.empty()) ++next;
  }
  const uint32_t total = next;
  std::string img(static_cast<size_t>(total) * kSector, '\0');

  std::string root = DirRecord(std::string_view("\0", 1), root_lba, kSector, true);
  root += DirRecord(std::string_view("\1", 1), root_lba, kSector, true);
  for (size_t i = 0; i < files.size(); ++i) {
    std::string id = files[i].first;
    for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    root += DirRecord(id + ";1", lbas[i], static_cast<uint32_t>(files[i].second.size()), false);
    std::memcpy(img.data() + lbas[i] * kSector, files[i].second.data(), files[i].second.size());
  }
  std::memcpy(img.data() + root_lba * kSector, root.data(), root.size());

  size_t p = 16 * kSector;
  img[p] = 1;
  std::memcpy(img.data() + p + 1, "CD001", 5);
  img[p + 6] = 1;
  Padded(img, p + 8, 32, "LINUX");
  Padded(img, p + 40, 32, "cidata");
  Both32(img, p + 80, total);
  Both16(img, p + 120, 1);
  Both16(img, p + 124, 1);
  Both16(img, p + 128, kSector);
  Both32(img, p + 132, 10);
  Le32(img, p + 140, 18);
  Be32(img, p + 148, 19);
  std::string rr = DirRecord(std::string_view("\0", 1), root_lba, kSector, true);
  std::memcpy(img.data() + p + 156, rr.data(), 34);
  for (size_t off : {190, 318, 446, 574}) Padded(img, p + off, 128, "");
  for (size_t off : {702, 739, 776}) Padded(img, p + off, 37, "");
  for (size_t off : {813, 830, 847, 864}) {
    std::memcpy(img.data() + p + off, off == 813 || off == 830 ? "2000010100000000" : "0000000000000000", 16);
  }
  img[p + 881] = 1;

  p = 17 * kSector;
  img[p] = static_cast<char>(255);
  std::memcpy(img.data() + p + 1, "CD001", 5);
  img[p + 6] = 1;

  for (int m = 0; m < 2; ++m) {  // path tables: root only
    p = (18 + m) * kSector;
    img[p] = 1;
    if (m == 0) {
      Le32(img, p + 2, root_lba);
      img[p + 6] = 1;
    } else {
      Be32(img, p + 2, root_lba);
      img[p + 7] = 1;
    }
  }
  return img;
}

}  // namespace

std::string BuildNoCloudSeed(const std::string& instance_id, const std::string& hostname,
                             const std::string& ssh_authorized_key, const SeedNetwork& net) {
  std::string meta = "instance-id: " + Yaml(instance_id) + "\nlocal-hostname: " + Yaml(hostname) + "\n";
  std::string user = "#cloud-config\nhostname: " + Yaml(hostname) + "\n";
  if (!ssh_authorized_key.empty()) user += "ssh_authorized_keys:\n  - " + Yaml(ssh_authorized_key) + "\n";
  std::string netcfg = "version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: " +
                       Yaml(net.mac) + "\n    set-name: eth0\n    addresses:\n";
  if (!net.ipv4.empty()) netcfg += "      - " + Yaml(net.ipv4) + "\n";
  if (!net.ipv6.empty()) netcfg += "      - " + Yaml(net.ipv6) + "\n";
  if (!net.gateway4.empty()) netcfg += "    gateway4: " + Yaml(net.gateway4) + "\n";
  if (!net.gateway6.empty()) netcfg += "    gateway6: " + Yaml(net.gateway6) + "\n";
  // Sorted names, as ISO 9660 requires.
  return Iso({{"meta-data", meta}, {"network-config", netcfg}, {"user-data", user}});
}

}  // namespace hp::provisioning
