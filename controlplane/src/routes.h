#pragma once
#include "api.h"
#include "hp/core/http.h"

namespace hp::cp {
// Sign-up, e-mail verification, sessions, password reset, the caller's own account and TOTP.
void RegisterAccountRoutes(Api& api, core::http::Router& router);
// Organizations, members, invitations, API tokens, audit events.
void RegisterOrganizationRoutes(Api& api, core::http::Router& router);
// Platform staff: partners, all organizations, suspension, the whole audit log, jobs.
void RegisterAdminRoutes(Api& api, core::http::Router& router, core::JobQueue& jobs);

// JSON views shared by route files.
core::Json OrgJson(const store::Organization& o);
core::Json UserJson(const store::User& u);
}  // namespace hp::cp
