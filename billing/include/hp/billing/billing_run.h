#pragma once
// The billing run for one UTC day: for every active or suspended subscription whose period ended
// on or before that day it (1) rates the unrated usage that occurred before the period end,
// (2) ends the subscription if it was cancelled at period end, otherwise starts the next period
// at the price in force on its first day and queues its charge (in advance), then (3) issues one
// invoice per organization and issuer from all uninvoiced charges whose net is not negative (a
// negative net stays as account credit for the next run). Organizations are processed in batches
// of BillingConfig::batch_size per write transaction; a rerun on the same day finds nothing left
// to do, so the run is idempotent and resumable after a crash.

#include <cstdint>
#include <functional>

#include "hp/billing/billing.h"
#include "hp/billing/catalog.h"
#include "hp/billing/invoice.h"
#include "hp/billing/price_list.h"

namespace hp::billing {

inline constexpr const char* kBillingRunJob = "billing.run";

struct BillingRunResult {
  int64_t renewed = 0;
  int64_t ended = 0;
  int64_t usage_records_rated = 0;
  int64_t invoices = 0;
  core::Money invoiced_total;
};

// Called inside the issuing transaction for every new invoice (dunning uses it).
using InvoiceIssuedHook = std::function<core::Status(SQLite::Database&, const Invoice&)>;

class BillingRun {
 public:
  BillingRun(const BillingDeps& deps, const BillingConfig& config, Catalog& catalog,
             PriceLists& prices, InvoiceStore& invoices)
      : deps_(deps), config_(config), catalog_(catalog), prices_(prices), invoices_(invoices) {}

  void OnInvoiceIssued(InvoiceIssuedHook hook) { on_issued_ = std::move(hook); }
  core::Result<BillingRunResult> Run(Date today, const Actor& actor = {});

 private:
  BillingDeps deps_;
  BillingConfig config_;
  Catalog& catalog_;
  PriceLists& prices_;
  InvoiceStore& invoices_;
  InvoiceIssuedHook on_issued_;
};

}  // namespace hp::billing
