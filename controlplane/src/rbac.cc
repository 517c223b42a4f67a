#include "rbac.h"

#include <algorithm>
#include <map>

namespace hp::cp {
namespace {

struct Perm {
  const char* name;
  const char* meaning;
};
const Perm kPerms[] = {
    {"org.read", "see the organization, its settings and members list"},
    {"org.update", "rename the organization, change its IP allow-list"},
    {"members.manage", "invite, remove members and change their roles"},
    {"tokens.read", "list API tokens (never their secrets)"},
    {"tokens.manage", "create and revoke API tokens"},
    {"audit.read", "read and export the audit log"},
    {"billing.read", "see invoices, payments and subscriptions"},
    {"billing.manage", "pay, change plans and payment methods"},
    {"services.read", "see sites, VPS, dedicated servers, DNS zones and certificates"},
    {"services.manage", "create, change and delete services, DNS records and certificates"},
};

// The matrix: role -> permissions.
const std::map<std::string, std::set<std::string>>& Matrix() {
  static const std::map<std::string, std::set<std::string>> m = {
      {"owner", {"org.read", "org.update", "members.manage", "tokens.read", "tokens.manage", "audit.read",
                 "billing.read", "billing.manage", "services.read", "services.manage"}},
      {"admin", {"org.read", "org.update", "members.manage", "tokens.read", "tokens.manage", "audit.read",
                 "billing.read", "billing.manage", "services.read", "services.manage"}},
      {"billing", {"org.read", "billing.read", "billing.manage"}},
      {"operator", {"org.read", "services.read", "services.manage", "tokens.read"}},
      {"developer", {"org.read", "services.read", "services.manage", "tokens.read", "tokens.manage"}},
      {"auditor", {"org.read", "audit.read", "billing.read", "services.read", "tokens.read"}},
      {"viewer", {"org.read", "services.read"}},
  };
  return m;
}

}  // namespace

const std::vector<std::string>& AllRoles() {
  static const std::vector<std::string> r = {"owner", "admin", "billing", "operator", "developer", "auditor", "viewer"};
  return r;
}
bool IsRole(std::string_view role) {
  return std::find(AllRoles().begin(), AllRoles().end(), role) != AllRoles().end();
}
const std::vector<std::string>& AllPermissions() {
  static const std::vector<std::string> p = [] {
    std::vector<std::string> v;
    for (const auto& x : kPerms) v.push_back(x.name);
    return v;
  }();
  return p;
}
bool IsPermission(std::string_view p) {
  return std::find(AllPermissions().begin(), AllPermissions().end(), p) != AllPermissions().end();
}
bool RoleHas(std::string_view role, std::string_view permission) {
  auto it = Matrix().find(std::string(role));
  return it != Matrix().end() && it->second.count(std::string(permission)) > 0;
}
bool CanAssignRole(std::string_view granter, std::string_view role) {
  if (!IsRole(role)) return false;
  if (granter == "owner") return true;
  if (granter == "admin") return role != "owner";
  return false;
}

std::string RolesMarkdown() {
  std::string out = "| permission | meaning |";
  for (const auto& r : AllRoles()) out += " " + r + " |";
  out += "\n|---|---|";
  for (size_t i = 0; i < AllRoles().size(); ++i) out += "---|";
  out += "\n";
  for (const auto& p : kPerms) {
    out += std::string("| `") + p.name + "` | " + p.meaning + " |";
    for (const auto& r : AllRoles()) out += RoleHas(r, p.name) ? " yes |" : " - |";
    out += "\n";
  }
  return out;
}

}  // namespace hp::cp
