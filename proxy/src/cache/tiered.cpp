// The cache's two tiers seen as one (tiered.hpp).
#include "cache/tiered.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

#include "cache/vary.hpp"
#include "util/digest.hpp"
#include "util/strings.hpp"

namespace orc::cache {

namespace asio = boost::asio;

namespace {

// One warning per interval at most: a dead Redis must not flood the log.
void warn_storage(std::string_view what, StorageStatus status) {
  static std::atomic<std::int64_t> last{0};
  auto now = util::SystemClock::instance().now_ms();
  auto prev = last.load(std::memory_order_relaxed);
  if (now - prev < 5000 || !last.compare_exchange_strong(prev, now)) return;
  spdlog::warn("cache storage {} failed ({}): the cache steps aside (fail open)", what, to_string(status));
}

std::string_view op_name(metrics::StorageOp op) {
  switch (op) {
    case metrics::StorageOp::get:
      return "get";
    case metrics::StorageOp::fill:
      return "store";
    case metrics::StorageOp::purge:
      return "purge";
    default:
      return "generations";
  }
}

// The request fields a Vary names, normalised (vary.hpp) so that values that mean the same select the same
// variant, each as a digest of its normalised form: the part goes into the stored entry's key material, and a
// Vary may name a field that carries a credential (`Authorization`, `Cookie`), which is never stored. The
// digest is an HMAC with cache.key_secret when there is one, so that a reader of Redis cannot test guesses
// of a value; a plain SHA-256 without.
std::string vary_part(const std::vector<std::string>& names, const identity::HeaderLookup& headers,
                      std::string_view secret) {
  std::string out;
  for (const auto& n : names) {
    const auto value = vary_value(n, headers(n));
    out += "vary." + n + "=" +
           (secret.empty() ? util::sha256_hex(value) : util::hmac_sha256_hex(secret, value)) + '\n';
  }
  return out;
}

std::string vary_key(const std::string& key, const std::string& part) {
  return key + ":v:" + identity::sha256_hex(part).substr(0, 32);
}

// The headers kept in an entry: the backend's end-to-end headers, without what is per-response (Set-Cookie
// too: a response with one is stored only under `set_cookie: strip`), and without the rule's targeted
// cache-control fields unless it forwards them; and a Date of `now_ms` when the response has none (RFC 9110
// section 6.6.1: a cache records when it received the response; If-Modified-Since falls back to it).
HeaderList stored_headers(const config::CacheAction& rule, const HeaderList& in, std::int64_t now_ms) {
  HeaderList out;
  bool dated = false;
  for (const auto& field : in) {
    const auto& k = field.first;
    if (util::iequals(k, "Content-Length") || util::iequals(k, "Age") || util::iequals(k, "X-Request-ID") ||
        util::iequals(k, "Set-Cookie") || util::iequals(k, "X-Cache") || util::iequals(k, "Cache-Status"))
      continue;
    if (!rule.forward_targeted && std::any_of(rule.targeted.begin(), rule.targeted.end(),
                                              [&](const std::string& t) { return util::iequals(k, t); }))
      continue;
    dated = dated || util::iequals(k, "Date");
    out.push_back(field);
  }
  if (!dated) out.emplace_back("Date", format_http_date(now_ms));
  return out;
}

}  // namespace

Use usable(const CacheEntry& e, std::int64_t now_ms) {
  if (now_ms < e.fresh_until_ms) return Use::fresh;
  if (now_ms < e.swr_until_ms) return Use::stale_while_revalidate;
  if (now_ms < e.sie_until_ms) return Use::stale_if_error;
  return Use::none;
}

bool serves_on_error(const CacheEntry& e, std::int64_t now_ms) {
  return now_ms < e.sie_until_ms || now_ms < e.fresh_until_ms;
}

bool matches(const CacheEntry& e, const CacheKey& key, const identity::HeaderLookup& headers) {
  return e.material == key.material + vary_part(e.vary_names, headers, key.secret);
}

void count_storage_op(const Storage& s, metrics::StorageOp op, StorageStatus status,
                      std::chrono::steady_clock::time_point started) {
  if (status != StorageStatus::ok) warn_storage(op_name(op), status);
  if (s.name() != "redis") return;
  metrics::Metrics::get().storage_op(
      op, static_cast<std::size_t>(status),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

// One entry by its full key: from the L1 when it has it, else from the storage, then kept in the L1 unless a
// purge ran meanwhile. (The L1 does not step aside when this worker's Redis commands fail: one late reply
// under load would then send every hit to a struggling Redis. A Redis that is gone or silent turns it off
// through the purge listener: at once on a reset, within two seconds when it stops answering.)
// A storage read also reads the tags' generations (the same round trip), which a fill after a miss uses.
asio::awaitable<Found> TieredCache::fetch(const std::string& key, const std::vector<std::string>& tags) {
  auto& storage = storage_;
  auto* l1 = l1_;
  const auto& clock = clock_;
  Found out;
  bool refreshing = false;  // this request re-reads an L1 entry older than l1_max_age
  if (l1) {
    if (auto e = l1->get(key, clock.now_ms(), &refreshing)) {
      out.entry = std::move(e);
      out.from_l1 = true;
      co_return out;
    }
  }
  out.l1_epoch = l1 ? l1->epoch() : 0;
  auto t0 = std::chrono::steady_clock::now();
  auto got = co_await storage.read(key, tags);
  const StorageStatus status = got.status;
  std::optional<std::string> blob = std::move(got.value.blob);
  if (got.ok()) out.generations = std::move(got.value.generations);
  count_storage_op(storage, metrics::StorageOp::get, status, t0);
  if (status != StorageStatus::ok) {
    out.failed = true;  // a refresh that failed keeps the L1's copy; another caller retries it in a second
    co_return out;
  }
  std::optional<CacheEntry> e;
  if (blob) e = deserialize(std::move(*blob));
  if (e) out.entry = std::make_shared<const CacheEntry>(std::move(*e));
  const bool kept = out.entry && l1 && l1->insert(key, out.entry, tags, out.l1_epoch, clock.now_ms());
  if (refreshing && !kept) l1->erase(key);  // Redis has none now, or it could not replace the copy: it goes
  co_return out;
}

asio::awaitable<Found> TieredCache::lookup(const CacheKey& k, const identity::HeaderLookup& headers,
                                           const std::vector<std::string>& tags) {
  const auto& key = k.key;
  const auto& material = k.material;
  auto out = co_await fetch(key, tags);
  if (out.failed) co_return out;
  if (out.entry && out.entry->vary_marker) {
    auto part = vary_part(out.entry->vary_names, headers, k.secret);
    auto variant = co_await fetch(vary_key(key, part), tags);
    out.failed = variant.failed;
    out.from_l1 = variant.from_l1;
    out.entry = std::move(variant.entry);  // the generations and epoch of the first read still hold
    if (out.entry && out.entry->material != material + part) out.entry.reset();
  } else if (out.entry && out.entry->material != material) {
    out.entry.reset();  // a hash collision or a foreign entry: never serve it
  }
  if (out.entry && out.from_l1) metrics::Metrics::get().l1_hit();
  co_return out;
}

asio::awaitable<StorageResult<Generations>> TieredCache::generations(const std::vector<std::string>& tags,
                                                                     std::uint64_t& l1_epoch) {
  l1_epoch = l1_ ? l1_->epoch() : 0;  // read before the generations: see store()
  auto t0 = std::chrono::steady_clock::now();
  auto gens = co_await storage_.generations(tags);
  count_storage_op(storage_, metrics::StorageOp::generations, gens.status, t0);
  co_return gens;
}

// Builds the entry for a complete response and stores it if no purge intervened.
asio::awaitable<Stored> TieredCache::store(const config::CacheAction& rule, const CacheKey& key,
                                           const std::vector<std::string>& tags, const Generations& seen,
                                           std::uint64_t l1_epoch, unsigned status, const HeaderList& head,
                                           std::string body, const identity::HeaderLookup& req_headers) {
  auto& storage = storage_;
  auto* l1 = l1_;
  const auto& clock = clock_;
  ResponseHead rh{status, &head};
  auto now = clock.now_ms();
  auto fresh = stored_freshness(rule, rh, now);
  if (!fresh) co_return Stored{};
  bool star = false;
  auto names = vary_names(rh, star);
  if (star) co_return Stored{};

  auto e = std::make_shared<CacheEntry>();
  e->status = status;
  e->headers = stored_headers(rule, head, now);
  // The origin's validator when it sent one (a client's If-None-Match with the tag a miss returned must
  // match on a hit); the proxy's own, from the body, only when it sent none and the status is a 2xx (the
  // only ones a conditional request is answered 304 for).
  if (auto origin_etag = find_header(e->headers, "ETag"))
    e->etag = std::string(*origin_etag);
  else if (status >= 200 && status < 300)
    e->etag = strong_etag(body);
  e->body = std::move(body);
  e->stored_at_ms = now;
  e->initial_age_s = fresh->initial_age_s;
  e->fresh_until_ms = now + fresh->lifetime_ms;
  // The response's own stale-while-revalidate / stale-if-error (RFC 5861) before the rule's; never past
  // must-revalidate (RFC 9111 section 5.2.2.2).
  const auto swr = fresh->stale_while_revalidate_ms.value_or(rule.stale_while_revalidate.count());
  const auto sie = fresh->stale_if_error_ms.value_or(rule.stale_if_error.count());
  e->swr_until_ms = fresh->must_revalidate ? e->fresh_until_ms : e->fresh_until_ms + swr;
  e->sie_until_ms = fresh->must_revalidate ? e->fresh_until_ms : e->fresh_until_ms + sie;
  // Kept while it may be served, and, with a validator, for the rule's validation window after that: a
  // request then revalidates it rather than fetching it whole (RFC 9111 section 4.3).
  auto until = std::max({e->fresh_until_ms, e->swr_until_ms, e->sie_until_ms});
  if (has_validator(e->headers)) until += rule.validation_window.count();
  if (until <= now) co_return Stored{};
  auto ttl = std::chrono::milliseconds(until - now);

  std::string entry_key = key.key;
  std::shared_ptr<CacheEntry> marker;
  Stored out{Stored::stored, e};
  if (!names.empty()) {
    auto part = vary_part(names, req_headers, key.secret);
    e->vary_names = names;  // a variant says which request fields chose it (a follower of its flight checks)
    e->material = key.material + part;
    entry_key = vary_key(key.key, part);
    marker = std::make_shared<CacheEntry>();
    marker->vary_marker = true;
    marker->vary_names = names;
    marker->material = key.material;
    marker->stored_at_ms = now;
    marker->fresh_until_ms = e->fresh_until_ms;
    marker->swr_until_ms = e->swr_until_ms;
    marker->sie_until_ms = e->sie_until_ms;
    auto t0 = std::chrono::steady_clock::now();
    auto m = co_await storage.put_if_current(key.key, serialize(*marker), ttl, tags, seen);
    count_storage_op(storage, metrics::StorageOp::fill, m.status, t0);
    if (!m.ok() || !m.value) {
      out.outcome = m.ok() ? Stored::refused : Stored::failed;
      co_return out;
    }
  } else {
    e->material = key.material;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto put = co_await storage.put_if_current(entry_key, serialize(*e), ttl, tags, seen);
  count_storage_op(storage, metrics::StorageOp::fill, put.status, t0);
  if (!put.ok()) {
    out.outcome = Stored::failed;
    co_return out;
  }
  if (!put.value) {  // a write purged one of the tags meanwhile: the body may be pre-write
    out.outcome = Stored::refused;
    co_return out;
  }
  metrics::Metrics::get().stored_bytes(e->body.size());
  if (l1) {
    // The epoch was read with `seen`: a purge of its tags since then (here or, through the listener,
    // anywhere) refuses it.
    if (marker) l1->insert(key.key, marker, tags, l1_epoch, clock.now_ms());
    l1->insert(entry_key, e, tags, l1_epoch, clock.now_ms());
  }
  co_return out;
}

}  // namespace orc::cache
