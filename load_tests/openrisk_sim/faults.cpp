// Fault rules (parse, match, expire) and the latency draw.
#include "openrisk_sim/faults.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <random>

#include "openrisk_sim/text.hpp"

namespace orc::sim {

namespace json = boost::json;

const char* fault_mode_name(FaultMode m) {
  switch (m) {
    case FaultMode::error:
      return "error";
    case FaultMode::hang:
      return "hang";
    case FaultMode::close:
      return "close";
    case FaultMode::slow:
      return "slow";
  }
  return "?";
}

namespace {

bool route_matches(std::string_view pattern, std::string_view route) {
  if (pattern == "*") return true;
  if (!pattern.empty() && pattern.back() == '*')
    return route.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == route;
}

}  // namespace

std::variant<FaultRule, std::string> FaultTable::parse(const json::value& v) {
  if (!v.is_object()) return std::string("a fault is a JSON object");
  const json::object& o = v.as_object();
  FaultRule r;
  const json::value* route = o.if_contains("route");
  if (!route || !route->is_string() || route->as_string().empty()) return std::string("'route' is required");
  r.route = std::string(route->as_string());
  const json::value* mode = o.if_contains("mode");
  if (!mode || !mode->is_string()) return std::string("'mode' is required: error, hang, close or slow");
  std::string_view m = mode->as_string();
  if (m == "error")
    r.mode = FaultMode::error;
  else if (m == "hang")
    r.mode = FaultMode::hang;
  else if (m == "close")
    r.mode = FaultMode::close;
  else if (m == "slow")
    r.mode = FaultMode::slow;
  else
    return std::string("'mode' must be error, hang, close or slow");
  if (const json::value* s = o.if_contains("status")) {
    if (!s->is_int64() || s->as_int64() < 400 || s->as_int64() > 599)
      return std::string("'status' must be 400-599");
    r.status = static_cast<int>(s->as_int64());
  }
  if (const json::value* d = o.if_contains("delay")) {
    std::optional<std::chrono::milliseconds> ms;
    if (d->is_string()) ms = parse_duration(d->as_string());
    if (d->is_int64() && d->as_int64() >= 0) ms = std::chrono::milliseconds(d->as_int64());
    if (!ms || *ms > std::chrono::hours(24)) return std::string("'delay' must be a duration such as \"2s\"");
    r.delay = *ms;
  }
  if (r.mode == FaultMode::slow && r.delay.count() == 0) return std::string("mode slow needs a 'delay'");
  if (const json::value* c = o.if_contains("count")) {
    if (!c->is_int64() || c->as_int64() < 1) return std::string("'count' must be a positive integer");
    r.remaining = c->as_int64();
  }
  if (const json::value* b = o.if_contains("after_bytes")) {
    if (!b->is_int64() || b->as_int64() < 0) return std::string("'after_bytes' must be >= 0");
    r.after_bytes = b->as_int64();
  }
  return r;
}

bool FaultTable::add(FaultRule rule) {
  std::lock_guard lock(mu_);
  if (rules_.size() >= kMaxRules) return false;
  rules_.push_back(std::move(rule));
  return true;
}

std::optional<FaultHit> FaultTable::take(std::string_view route_name) {
  std::lock_guard lock(mu_);
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!route_matches(it->route, route_name)) continue;
    FaultHit hit{it->mode, it->status, it->delay, it->after_bytes};
    ++it->hits;
    if (it->remaining > 0 && --it->remaining == 0) rules_.erase(it);
    return hit;
  }
  return std::nullopt;
}

std::size_t FaultTable::clear() {
  std::lock_guard lock(mu_);
  std::size_t n = rules_.size();
  rules_.clear();
  return n;
}

std::string FaultTable::to_json() const {
  std::lock_guard lock(mu_);
  json::array a;
  for (auto& r : rules_) {
    a.push_back(json::object{{"route", r.route},
                             {"mode", fault_mode_name(r.mode)},
                             {"status", r.status},
                             {"delay_ms", r.delay.count()},
                             {"remaining", r.remaining},
                             {"after_bytes", r.after_bytes},
                             {"hits", r.hits}});
  }
  return json::serialize(json::object{{"faults", std::move(a)}});
}

LatencyModel::LatencyModel(const SimOptions& opts) {
  for (auto c : {RouteClass::health, RouteClass::auth, RouteClass::read, RouteClass::write,
                 RouteClass::stream, RouteClass::sim})
    specs_[static_cast<int>(c)] = latency_for(opts, c);
}

std::chrono::milliseconds LatencyModel::draw(RouteClass c) const {
  const LatencySpec& s = specs_[static_cast<int>(c)];
  if (s.jitter.count() == 0) return s.base;
  thread_local std::mt19937_64 gen{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> dist(-s.jitter.count(), s.jitter.count());
  return std::chrono::milliseconds(std::max<std::int64_t>(0, s.base.count() + dist(gen)));
}

}  // namespace orc::sim
