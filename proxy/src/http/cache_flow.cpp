// The cache flows around forward(), as the plan (cache/plan.hpp) decided: reads (lookup, HIT / STALE,
// coalesced MISS and fill), bypasses, and writes (purge before the response head reaches the client).
// Storage failures never fail a request: the cache steps aside (X-Cache: BYPASS) and the backend answers.
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/http/span_body.hpp>

#include "cache/cache_key.hpp"
#include "cache/cache_policy.hpp"
#include "cache/storage.hpp"
#include "cache/tiered.hpp"
#include "http/exchange.hpp"
#include "http/header_rewrite.hpp"
#include "http/server.hpp"
#include "http/upstream_pool.hpp"
#include "http/worker.hpp"
#include "identity/caller.hpp"
#include "util/strings.hpp"

namespace orc::http {

namespace {

using cache::Coalescer;
using cache::SharedEntry;

// The backend's end-to-end fields: never a hop-by-hop field (Connection and what it names, Keep-Alive,
// Transfer-Encoding, TE, Trailer, Upgrade, Proxy-*), which belongs to the backend's connection, not the
// response: a stored one would be replayed on every hit.
cache::HeaderList end_to_end_headers(const bhttp::response_header<>& h) {
  bhttp::response_header<> copy = h;
  strip_hop_by_hop(copy);
  cache::HeaderList out;
  for (const auto& f : copy) out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

// Whether every purge of any instance reached this process's coalescer while a flight ran: the memory storage
// (one process), or the L1's purge listener subscribed from the flight's start to its end without a gap.
class PurgesHeard {
 public:
  explicit PurgesHeard(Worker& w) : worker_(w), at_start_(now()) {}
  bool throughout() const { return at_start_ && at_start_ == now(); }

 private:
  std::optional<std::uint64_t> now() const {
    if (worker_.storage()->name() == "memory") return 0;
    auto* l1 = worker_.server().l1();
    if (!l1) return std::nullopt;
    auto s = l1->subscription();
    if (!l1->enabled()) return std::nullopt;
    return s;
  }
  Worker& worker_;
  std::optional<std::uint64_t> at_start_;
};

// Ends a fill's flight with what became of its response. Stored: every follower is served it. Refused by a
// purge: when that purge sealed the flight, the followers all joined before it (later requests lead flights
// of their own) and their reads overlapped the write, so they are served the answer too; that needs every
// purge to have reached this process while the flight ran (`purges_heard`), else a purge elsewhere may have
// come before some of them, and they fetch on their own. Not storable: they fetch on their own, and the key
// is remembered as such for a while.
void end_flight(Coalescer::Lead& lead, const cache::Stored& s, bool purges_heard) {
  if (!lead) return;
  if (s.outcome == cache::Stored::stored ||
      (s.outcome == cache::Stored::refused && purges_heard && lead.sealed()))
    lead.finish(s.entry);
  else if (s.outcome == cache::Stored::not_storable)
    lead.finish(nullptr);
  else
    lead.abandon();
}

std::string cache_status(std::string_view detail) {
  return "openrisk-cache; " + std::string(detail);
}

}  // namespace

// Retries the purges that failed after accepted writes (cache/pending_purges.hpp) once this worker's storage
// answers again. One replay at a time per process; failures leave them owed.
asio::awaitable<void> replay_pending_purges(Worker& worker) {
  auto* storage = worker.storage();
  auto& owed = worker.server().pending_purges();
  if (!storage || owed.empty() || !storage->up()) co_return;
  auto batch = owed.claim();
  if (batch.tags.empty()) co_return;
  struct Release {
    cache::PendingPurges& owed;
    bool settled = false;
    ~Release() {
      if (!settled) owed.release();
    }
  } release{owed};
  auto t0 = Clock::now();
  auto purged = co_await worker.purge(batch.tags);
  cache::count_storage_op(*storage, metrics::StorageOp::purge, purged.status, t0);
  if (!purged.ok()) co_return;
  owed.settle(batch);
  release.settled = true;
  metrics::Metrics::get().invalidated_entries(purged.value);
  spdlog::info("replayed the failed purge of {} tag(s): {} entr(ies) removed; {} tag(s) still owed",
               batch.tags.size(), purged.value, owed.size());
}

std::optional<std::string_view> HeaderView::operator()(std::string_view name) const {
  auto [first, last] = fields_.equal_range(name);
  if (first == last) return std::nullopt;
  if (std::next(first) == last) return std::string_view(first->value().data(), first->value().size());
  std::string all;
  for (auto it = first; it != last; ++it)
    util::append_field_value(all, name, std::string_view(it->value().data(), it->value().size()));
  return joined_.emplace_back(std::move(all));
}

asio::awaitable<bool> forward_bypass(Exchange& x, RequestParser& parser, cache::Bypass why) {
  x.cache = "bypass";
  x.rule_metrics->bypass(static_cast<std::size_t>(why), cache::to_string(why));
  ForwardHooks hooks;
  std::string status = cache_status("fwd=bypass; detail=" + std::string(cache::to_string(why)));
  hooks.on_head = [&](const bhttp::response_header<>&,
                      bhttp::response_header<>& out) -> asio::awaitable<void> {
    out.set("X-Cache", "BYPASS");
    out.set("Cache-Status", status);
    co_return;
  };
  co_return (co_await forward(x, parser, hooks)).keep_alive;
}

namespace {

// A fetch for the cache alone (stale-while-revalidate refresh): GET without a client, body bounded.
asio::awaitable<void> refresh_in_background(Worker& worker, std::shared_ptr<const Runtime> rt,
                                            bhttp::request<bhttp::empty_body> req, config::CacheAction rule,
                                            cache::CacheKey key, std::vector<std::string> tags,
                                            Coalescer::Lead lead, PurgesHeard heard) {
  cache::TieredCache tiered(worker.server().clock(), *worker.storage(), worker.server().l1());
  const auto& cfg = *rt->config;
  std::uint64_t l1_epoch = 0;
  auto gens = co_await tiered.generations(tags, l1_epoch);
  if (!gens.ok()) co_return;
  auto [aec, up] = co_await worker.pool().acquire(cfg.upstream, true);
  if (aec) co_return;
  up->stream.expires_after(cfg.upstream.send_timeout);
  auto [wec, wn] = co_await bhttp::async_write(up->stream, req, use_tuple);
  if (wec) co_return;
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::string_body> rp;
  rp.body_limit(rule.max_body);
  up->stream.expires_after(cfg.upstream.first_byte_timeout + cfg.upstream.read_timeout);
  auto [rec, rn] = co_await bhttp::async_read(up->stream, buf, rp, use_tuple);
  if (rec) co_return;
  auto res = rp.release();
  cache::HeaderList head = end_to_end_headers(res.base());
  cache::ResponseHead rh{res.result_int(), &head};
  if (cache::storable_head(rule, rh) != cache::Storability::storable) co_return;
  if (worker.server().pending_purges().any(tags)) co_return;
  const HeaderView request_headers(req.base());
  auto stored = co_await tiered.store(rule, key, tags, gens.value, l1_epoch, res.result_int(), head,
                                      std::move(res.body()), std::cref(request_headers));
  if (res.keep_alive()) worker.pool().release(std::move(up), cfg.upstream);
  end_flight(lead, stored, heard.throughout());
}

}  // namespace

asio::awaitable<bool> serve_entry(Exchange& x, const RequestParser& parser, const cache::CacheEntry& entry,
                                  std::string_view x_cache, std::string_view status_detail) {
  const auto& req = parser.get();
  const bool head_only = req.method() == bhttp::verb::head;
  const auto now = x.worker.server().clock().now_ms();
  const auto age_s =
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, (now - entry.stored_at_ms) / 1000)) +
      entry.initial_age_s;
  const auto ttl_s = (entry.fresh_until_ms - now) / 1000;
  const bool keep_alive = req.keep_alive() && !x.worker.draining();
  const bool not_modified =
      cache::not_modified(req[bhttp::field::if_none_match], req[bhttp::field::if_modified_since], entry.etag,
                          cache::find_header(entry.headers, "Last-Modified"));

  bhttp::response<bhttp::span_body<const char>> res{
      static_cast<bhttp::status>(not_modified ? 304 : entry.status), 11};
  for (const auto& [k, v] : entry.headers) res.insert(k, v);
  res.set(bhttp::field::etag, entry.etag);
  add_response_headers(res.base(), x.request_id);
  res.set(bhttp::field::age, std::to_string(age_s));
  res.set("X-Cache", x_cache);
  res.set("Cache-Status", cache_status(std::string(status_detail) + "; ttl=" + std::to_string(ttl_s)));
  res.keep_alive(keep_alive);
  bool has_body = !not_modified && entry.status != 204 && entry.status != 304;
  if (has_body) {
    res.body() = {entry.body.data(), entry.body.size()};
    res.content_length(entry.body.size());
  } else {
    res.erase(bhttp::field::content_length);
  }
  x.status = not_modified ? 304 : entry.status;
  x.client.expires_after(x.cfg.timeouts.client_send);
  beast::error_code ec;
  if (head_only || !has_body) {
    bhttp::response_serializer<bhttp::span_body<const char>> sr(res);
    auto [wec, wn] = co_await bhttp::async_write_header(x.client, sr, use_tuple);
    ec = wec;
  } else {
    auto [wec, wn] = co_await bhttp::async_write(x.client, res, use_tuple);
    ec = wec;
    if (!ec) x.bytes_sent += entry.body.size();
  }
  if (ec) x.outcome = "client_gone";
  co_return !ec && keep_alive;
}

asio::awaitable<bool> handle_cacheable(Exchange& x, RequestParser& parser, const cache::Plan& plan,
                                       const identity::HeaderLookup& headers) {
  auto& req = parser.get();
  const auto& c = plan.policy();
  auto& storage = *x.worker.storage();
  const auto& key = plan.key;
  const auto& tags = plan.tags;
  auto& owed = x.worker.server().pending_purges();

  const auto& clock = x.worker.server().clock();
  cache::TieredCache tiered(clock, storage, x.worker.server().l1());
  auto& coalescer = x.worker.server().coalescer();
  SharedEntry stale;
  std::optional<cache::Generations> read_generations;  // read with the lookup: a fill needs no second read
  std::uint64_t l1_epoch = 0;
  if (!plan.revalidate) {
    auto found = co_await tiered.lookup(key, headers, tags, req.method() == bhttp::verb::get);
    if (found.failed) co_return co_await forward_bypass(x, parser, cache::Bypass::storage_unavailable);
    read_generations = std::move(found.generations);
    l1_epoch = found.l1_epoch;
    const auto now = clock.now_ms();
    const auto use = found.entry ? cache::usable(*found.entry, now) : cache::Use::none;
    if (use == cache::Use::fresh) {
      x.cache = "hit";
      co_return co_await serve_entry(x, parser, *found.entry, "HIT", "hit");
    }
    if (use == cache::Use::stale_while_revalidate && req.method() == bhttp::verb::get) {
      // Serve stale now; one refresh per key per process (the coalescer makes it "once"). A request that
      // finds the refresh under way does not wait for it.
      const PurgesHeard heard(x.worker);  // before the flight opens
      if (auto lead = coalescer.try_lead(key.key, tags)) {
        bhttp::request<bhttp::empty_body> up{bhttp::verb::get, x.origin_target, 11};
        up.base() = req.base();
        up.method(bhttp::verb::get);
        up.target(x.origin_target);
        up.version(11);
        strip_hop_by_hop(up.base());
        strip_validators(up.base());  // a refresh needs the whole response, not a 304
        add_forwarding_headers(up.base(), {x.peer, x.request_id});
        asio::co_spawn(x.client.get_executor(),
                       refresh_in_background(x.worker, x.worker.runtime(), std::move(up), c, key, tags,
                                             std::move(*lead), heard),
                       asio::detached);
      }
      x.cache = "stale";
      co_return co_await serve_entry(x, parser, *found.entry, "STALE", "hit; fwd=stale");
    }
    // Kept for stale_if_error, should the backend fail.
    if (found.entry && cache::serves_on_error(*found.entry, now)) stale = std::move(found.entry);
  }

  ForwardHooks hooks;
  hooks.on_failure = [&](unsigned) -> asio::awaitable<std::optional<bool>> {
    if (!stale || !cache::serves_on_error(*stale, clock.now_ms())) co_return std::nullopt;
    x.cache = "stale";
    x.outcome = "proxied";
    spdlog::warn("request {} {}: backend failed, serving a stale entry (stale_if_error)", x.request_id,
                 x.safe_target());
    co_return co_await serve_entry(x, parser, *stale, "STALE", "hit; fwd=stale; detail=stale-if-error");
  };
  x.cache = "miss";

  // HEAD misses and keys recently found not storable go straight to the backend.
  const bool fill = plan.fill && !coalescer.recently_not_storable(key.key);
  Coalescer::Lead lead;
  const PurgesHeard heard(x.worker);  // before the flight opens: end_flight() asks whether it was throughout
  // Leads the key's flight or follows it. A follower is served the leader's answer when it is for the same
  // request fields (a Vary variant for other values is not: that follower tries once more, and may lead).
  for (int attempt = 0; fill && attempt < 2; ++attempt) {
    auto wait = x.cfg.upstream.first_byte_timeout + x.cfg.upstream.read_timeout;
    auto joined = co_await coalescer.join(key.key, tags, wait);
    if (!joined.followed) {
      lead = std::move(joined.lead);
      break;
    }
    const auto& shared = joined.answer;
    if (!shared) break;  // no answer to share: fetch on its own
    if (cache::matches(*shared, key, headers)) {
      // It waited for the backend like a miss (and is counted as one); it just did not ask it again.
      x.cache = "miss";
      x.rule_metrics->coalesced();
      co_return co_await serve_entry(x, parser, *shared, "MISS", "fwd=miss; collapsed");
    }
  }

  cache::Generations seen;
  bool can_store = false;
  if (lead && read_generations) {
    // Read before the backend is asked, like the generations call below: a purge since then refuses the fill.
    seen = std::move(*read_generations);
    can_store = true;
  } else if (lead) {
    auto gens = co_await tiered.generations(tags, l1_epoch);
    if (gens.ok()) {
      seen = std::move(gens.value);
      can_store = true;
    }
  }
  // A fill asks for the whole response; the client's conditional is then answered with it (a 200 is a right
  // answer to any conditional), and the next one from the stored entry.
  hooks.unconditional = can_store;
  std::string body;
  unsigned status = 0;
  cache::HeaderList head;
  hooks.on_head = [&](const bhttp::response_header<>& upstream,
                      bhttp::response_header<>& out) -> asio::awaitable<void> {
    status = upstream.result_int();
    head = end_to_end_headers(upstream);
    out.set("X-Cache", "MISS");
    out.set("Cache-Status", cache_status("fwd=miss"));
    cache::ResponseHead rh{status, &head};
    if (can_store && cache::storable_head(c, rh) == cache::Storability::storable) {
      hooks.tee = &body;
      hooks.tee_limit = c.max_body;
    }
    co_return;
  };
  // The flight ends here, before the client has the last bytes: from now on a request finds the entry (or,
  // when none was stored, leads a new flight).
  hooks.on_body_complete = [&]() -> asio::awaitable<void> {
    if (!lead) co_return;
    if (!can_store) {
      lead.abandon();  // the storage failed: the next one may fill
    } else if (!hooks.tee || hooks.tee_overflow) {
      lead.finish(nullptr);  // the response itself is not storable: do not queue behind this key for a while
    } else if (owed.any(tags)) {
      lead.abandon();
    } else {
      auto stored =
          co_await tiered.store(c, key, tags, seen, l1_epoch, status, head, std::move(body), headers);
      end_flight(lead, stored, heard.throughout());
    }
  };
  auto result = co_await forward(x, parser, hooks);
  // Not ended above: the backend or the client broke off (the destructor would do the same).
  lead.abandon();
  co_return result.keep_alive;
}

asio::awaitable<bool> handle_invalidate(Exchange& x, RequestParser& parser, const cache::Plan& plan) {
  x.cache = "pass";
  ForwardHooks hooks;
  hooks.on_head = [&](const bhttp::response_header<>& upstream,
                      bhttp::response_header<>& out) -> asio::awaitable<void> {
    out.set("X-Cache", "BYPASS");
    unsigned code = upstream.result_int();
    auto* storage = x.worker.storage();
    if (code < 200 || code >= 300 || !storage) co_return;
    // The backend accepted the write: purge before the client can see the answer (read-your-writes).
    for (const auto& t : plan.unrendered)
      spdlog::warn(
          "request {} {}: rule '{}' cannot render tag '{}' without a verified JWT; those entries stay until "
          "they expire",
          x.request_id, x.safe_target(), plan.rule()->cfg.name, t);
    const auto& tags = plan.tags;
    auto t0 = Clock::now();
    auto purged = co_await x.worker.purge(tags);  // Redis and the L1, before the client sees the answer
    cache::count_storage_op(*storage, metrics::StorageOp::purge, purged.status, t0);
    x.cache = "purge";
    if (purged.ok()) {
      x.rule_metrics->invalidation();
      metrics::Metrics::get().invalidated_entries(purged.value);
      co_await replay_pending_purges(x.worker);
    } else {
      // Owed until a replay succeeds: reads of these tags bypass the cache meanwhile (never pre-write data).
      x.worker.server().pending_purges().add(tags);
      spdlog::error(
          "request {} {}: purge of {} tag(s) failed ({}): reads of them bypass the cache until a "
          "replay of the purge succeeds",
          x.request_id, x.safe_target(), tags.size(), cache::to_string(purged.status));
    }
    co_return;
  };
  co_return (co_await forward(x, parser, hooks)).keep_alive;
}

}  // namespace orc::http
