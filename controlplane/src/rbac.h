#pragma once
// Roles and permissions. Every /api/v1 route declares the permission it needs (RouteInfo.
// permission); a route without one does not register (deny by default). The matrix below is the
// written contract; docs/roles.md is generated from it (`hostplane roles docs`).

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace hp::cp {

// Route permission markers that are not role permissions.
inline constexpr const char* kPublic = "public";              // no authentication
inline constexpr const char* kAuthenticated = "authenticated";  // any signed-in user, no org
inline constexpr const char* kStaff = "staff";                // platform operators only

const std::vector<std::string>& AllRoles();  // owner, admin, billing, operator, developer, auditor, viewer
bool IsRole(std::string_view role);
const std::vector<std::string>& AllPermissions();
bool IsPermission(std::string_view permission);
bool RoleHas(std::string_view role, std::string_view permission);
// Roles a member with `role` may grant to others (no one grants more than they have; only owners
// make owners).
bool CanAssignRole(std::string_view granter_role, std::string_view role);
std::string RolesMarkdown();

}  // namespace hp::cp
