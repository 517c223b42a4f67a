#pragma once
// Subscriptions: an order creates a pending subscription; provisioning may start only once
// Accept() returns an active one (the control plane checks state == kActive). Accept starts the
// first period on the acceptance day (the anchor) and queues the first period's charge and the
// setup fee. Plan changes queue proration charges/credits (rules in proration.h), cancellation
// is at period end or immediate (with a prorated credit), suspension and reactivation change
// only the state (billing continues; dunning drives them).
//
// Charges are queued as uninvoiced rows; the billing run (billing_run.h) turns them into
// invoices. Reseller/OEM customers are charged their partner's sell price and the partner's
// billing organization is charged the wholesale price for the same period.
// Every call is scoped by organization id and audited. Thread-safe.

#include <string>
#include <vector>

#include "hp/billing/billing.h"
#include "hp/billing/price_list.h"
#include "hp/billing/proration.h"

namespace hp::billing {

enum class SubscriptionState { kPending, kActive, kSuspended, kCancelled };
std::string_view SubscriptionStateName(SubscriptionState s);

struct Subscription {
  std::string id;
  std::string organization_id;
  std::string product_code;
  BillingPeriod period = BillingPeriod::kMonthly;
  SubscriptionState state = SubscriptionState::kPending;
  Date anchor;
  PeriodSpan current;          // valid once active
  core::Money period_price;    // locked for the current period
  bool cancel_at_period_end = false;
  std::string channel;
  std::string partner_id;
};

struct OrderRequest {
  std::string organization_id;
  std::string product_code;
  BillingPeriod period = BillingPeriod::kMonthly;
  std::string idempotency_key;  // the same key returns the same subscription
};

struct PlanChange {
  Subscription subscription;
  Proration proration;
};

// An uninvoiced charge (positive) or credit (negative).
struct PendingCharge {
  std::string id;
  std::string organization_id;
  std::string subscription_id;
  std::string kind;  // "recurring", "setup", "proration", "usage", "wholesale"
  LineInput line;
};

class Subscriptions {
 public:
  Subscriptions(const BillingDeps& deps, PriceLists& prices, Catalog& catalog)
      : deps_(deps), prices_(prices), catalog_(catalog) {}

  core::Result<Subscription> Order(const OrderRequest& request, const Actor& actor = {});
  // pending -> active; kConflict from any other state.
  core::Result<Subscription> Accept(const std::string& organization_id, const std::string& id,
                                    const Actor& actor = {});
  // Effective today (the clock's UTC day). Same period: prorated (P4); other period: P5.
  core::Result<PlanChange> ChangePlan(const std::string& organization_id, const std::string& id,
                                      const std::string& new_product_code,
                                      BillingPeriod new_period, const Actor& actor = {});
  // immediately=false: cancel_at_period_end (undo with Resume... not offered: re-order).
  core::Result<Subscription> Cancel(const std::string& organization_id, const std::string& id,
                                    bool immediately, const Actor& actor = {});
  core::Result<Subscription> Suspend(const std::string& organization_id, const std::string& id,
                                     const std::string& reason, const Actor& actor = {});
  core::Result<Subscription> Reactivate(const std::string& organization_id, const std::string& id,
                                        const Actor& actor = {});

  core::Result<Subscription> Get(const std::string& organization_id, const std::string& id);
  core::Result<std::vector<Subscription>> List(const std::string& organization_id);
  core::Result<std::vector<PendingCharge>> PendingCharges(const std::string& organization_id);

 private:
  BillingDeps deps_;
  PriceLists& prices_;
  Catalog& catalog_;
};

}  // namespace hp::billing
