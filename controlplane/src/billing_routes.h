#pragma once
// The billing module's /api/v1 routes (customer routes under /api/v1/organizations/{org}/...,
// staff routes under /api/v1/admin/billing/...). The services are owned by mount_billing.cc.

#include <functional>
#include <string>

#include "api.h"
#include "hp/billing/billing_run.h"
#include "hp/billing/catalog.h"
#include "hp/billing/commission.h"
#include "hp/billing/dunning.h"
#include "hp/billing/invoice.h"
#include "hp/billing/ledger.h"
#include "hp/billing/payment.h"
#include "hp/billing/price_list.h"
#include "hp/billing/subscription.h"
#include "hp/billing/usage.h"
#include "hp/core/http.h"
#include "hp/core/jobs.h"

namespace hp::cp {

// Job kinds owned by the billing mount.
inline constexpr const char* kCardPaymentJob = "billing.payment.card";      // PayByCard off the reactor
inline constexpr const char* kSimWebhookJob = "billing.dev.gateway_webhooks";  // --dev simulator delivery

struct BillingServices {
  billing::BillingConfig config;
  billing::Catalog* catalog = nullptr;
  billing::PriceLists* prices = nullptr;
  billing::Subscriptions* subscriptions = nullptr;
  billing::UsageMeter* usage = nullptr;
  billing::InvoiceStore* invoices = nullptr;
  billing::Ledger* ledger = nullptr;
  billing::Payments* payments = nullptr;
  bool card_payments = false;  // a card gateway (or the --dev simulator) is configured
  billing::Dunning* dunning = nullptr;
  billing::BillingRun* run = nullptr;
  core::JobQueue* jobs = nullptr;
  core::WorkerPool* workers = nullptr;
  billing::Commissions* commissions = nullptr;
  // The brand heading an organization's invoice documents: its reseller's/OEM's brand name, ""
  // for platform customers (our own documents carry no separate brand line).
  std::function<std::string(const std::string& org_id)> brand_of;
};

// The billing account of an organization, created on first use from the tenancy (name, channel
// of its partner).
core::Result<billing::Account> EnsureBillingAccount(Api& api, BillingServices& b, const std::string& org_id);

void RegisterBillingRoutes(Api& api, core::http::Router& router, BillingServices& b);
void RegisterBillingAdminRoutes(Api& api, core::http::Router& router, BillingServices& b);

}  // namespace hp::cp
