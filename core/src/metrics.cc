#include "hp/core/metrics.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace hp::core {
namespace {
std::vector<double> DefaultBounds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
std::string Escape(const std::string& v) {
  std::string o;
  for (char c : v) {
    if (c == '\\') o += "\\\\";
    else if (c == '"') o += "\\\"";
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o;
}
std::string LabelText(const Labels& labels, const std::string& extra_k = {}, const std::string& extra_v = {}) {
  if (labels.empty() && extra_k.empty()) return "";
  std::string o = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) o += ",";
    first = false;
    o += k + "=\"" + Escape(v) + "\"";
  }
  if (!extra_k.empty()) {
    if (!first) o += ",";
    o += extra_k + "=\"" + extra_v + "\"";
  }
  return o + "}";
}
std::string Num(double v) {
  if (std::isinf(v)) return "+Inf";
  char b[64];
  std::snprintf(b, sizeof b, "%.15g", v);
  return b;
}
}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  if (bounds_.empty()) bounds_ = DefaultBounds();
  buckets_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sum_micro_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}
double Histogram::Sum() const { return static_cast<double>(sum_micro_.load()) / 1e6; }

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = "counter";
  f.help = help;
  auto& p = f.counters[labels];
  if (!p) p = std::make_unique<Counter>();
  return *p;
}
Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = "gauge";
  f.help = help;
  auto& p = f.gauges[labels];
  if (!p) p = std::make_unique<Gauge>();
  return *p;
}
Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const Labels& labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = "histogram";
  f.help = help;
  auto& p = f.histograms[labels];
  if (!p) p = std::make_unique<Histogram>(std::move(bounds));
  return *p;
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::lock_guard lock(mu_);
  std::ostringstream o;
  for (const auto& [name, f] : families_) {
    o << "# HELP " << name << " " << f.help << "\n# TYPE " << name << " " << f.type << "\n";
    for (const auto& [l, c] : f.counters) o << name << LabelText(l) << " " << c->Value() << "\n";
    for (const auto& [l, g] : f.gauges) o << name << LabelText(l) << " " << g->Value() << "\n";
    for (const auto& [l, h] : f.histograms) {
      auto counts = h->BucketCounts();
      uint64_t cum = 0;
      for (size_t i = 0; i < h->bounds().size(); ++i) {
        cum += counts[i];
        o << name << "_bucket" << LabelText(l, "le", Num(h->bounds()[i])) << " " << cum << "\n";
      }
      cum += counts.back();
      o << name << "_bucket" << LabelText(l, "le", "+Inf") << " " << cum << "\n";
      o << name << "_sum" << LabelText(l) << " " << Num(h->Sum()) << "\n";
      o << name << "_count" << LabelText(l) << " " << h->Count() << "\n";
    }
  }
  return o.str();
}

MetricsRegistry& MetricsRegistry::Default() {
  static MetricsRegistry r;
  return r;
}

}  // namespace hp::core
