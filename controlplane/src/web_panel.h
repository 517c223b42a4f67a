#pragma once
// The customer web control panel: static files from controlplane/web/, embedded into the binary
// at build time (cmake/embed_files.cmake) and served under /app/ with a strict
// Content-Security-Policy. The panel is a client of /api/v1 like any other; it holds no logic of
// its own that the API does not enforce.

#include "module.h"

namespace hp::partner {
class BrandingStore;
}

namespace hp::cp {

// GET /app/ and /app/<file> for every embedded file; GET /app redirects to /app/; the links the
// e-mails carry (/verify-email, /reset-password, /accept-invitation ?token=...) redirect into the
// panel's matching page with the token in the fragment, which browsers never send to a server.
// White-label: with `branding`, a request whose Host is a partner's panel_host gets the partner's
// brand (name, logo, colours through /app/brand.css) in index.html and nothing of ours.
void RegisterWebPanelRoutes(core::http::Router& router, partner::BrandingStore* branding = nullptr);

ModuleSpec WebPanelModuleSpec();

}  // namespace hp::cp
