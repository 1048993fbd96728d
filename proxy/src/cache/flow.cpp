// The cache flow of one worker: see flow.hpp.
#include "cache/flow.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <array>

#include "cache/cache_policy.hpp"
#include "cache/range.hpp"
#include "cache/tiered.hpp"
#include "log/access_log.hpp"

namespace orc::cache {

namespace asio = boost::asio;

namespace {

std::string cache_status(std::string_view detail) {
  return "openrisk-cache; " + std::string(detail);
}

constexpr std::array<Field, 1> kPassFields{{{"X-Cache", "BYPASS"}}};
constexpr std::array<Field, 2> kMissFields{
    {{"X-Cache", "MISS"}, {"Cache-Status", "openrisk-cache; fwd=miss"}}};

// The fields of a relayed miss: X-Cache and Cache-Status, and the rule's targeted cache-control fields
// (RFC 9213) out unless it forwards them (a stored entry keeps none of them: tiered.cpp).
std::vector<Field> miss_fields(const config::CacheAction& rule) {
  std::vector<Field> out(kMissFields.begin(), kMissFields.end());
  if (!rule.forward_targeted)
    for (const auto& name : rule.targeted) out.push_back({name, {}, true});
  return out;
}

// RFC 9111 section 3.5: whether the response answers a request with Authorization and would be shared by
// everyone (scope public). A scope that keys on the credential or its claims is no shared reuse of it.
bool shared_authorization(const config::CacheAction& rule, const Origin& origin) {
  return rule.scope == config::Scope::public_ && origin.request_header("Authorization").has_value();
}

// The Age of an entry: its time in the cache plus the age the backend reported.
std::uint64_t age_of(const CacheEntry& entry, std::int64_t now_ms) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, (now_ms - entry.stored_at_ms) / 1000)) +
         entry.initial_age_s;
}

// What a GET's Range asks of a stored response (RFC 9110 section 14.2): only of a 200 (the entry is always
// whole), and only when its If-Range holds; a HEAD, or another status, is answered whole.
RangeAnswer range_of(const CacheEntry& entry, const identity::HeaderLookup& headers, bool get) {
  if (!get || entry.status != 200) return {};
  auto range = headers("Range");
  if (!range) return {};
  if (!if_range_holds(headers("If-Range").value_or(""), entry.etag,
                      find_header(entry.headers, "Last-Modified")))
    return {};
  return answer_range(*range, entry.body.size());
}

// A stored entry as a response: the 304 when the request's conditional is satisfied (INM, then IMS, against
// Last-Modified or else Date: RFC 9111 section 4.3.2, not_modified()), else a 206 or 416 for `range`, else
// the entry.
Reply reply_of(const CacheEntry& entry, const identity::HeaderLookup& headers, const RangeAnswer& range,
               std::int64_t now_ms, std::string_view x_cache, std::string_view detail) {
  const auto age_s = age_of(entry, now_ms);
  const auto ttl_s = (entry.fresh_until_ms - now_ms) / 1000;
  // The stored dates are looked up only for a request that asks with one.
  const auto if_modified_since = headers("If-Modified-Since").value_or("");
  std::optional<std::string_view> last_modified, date;
  if (!if_modified_since.empty()) {
    last_modified = find_header(entry.headers, "Last-Modified");
    if (!last_modified) date = find_header(entry.headers, "Date");
  }
  // Only a 2xx answers a conditional with 304 (RFC 9110 section 13.2.1: preconditions are ignored when the
  // response would be another status); a stored 404 or 301 is sent whole.
  const bool success = entry.status >= 200 && entry.status < 300;
  const bool not_mod = success && not_modified(headers("If-None-Match").value_or(""), if_modified_since,
                                               entry.etag, last_modified, date, now_ms);
  Reply r;
  r.status = not_mod ? 304 : entry.status;
  r.headers = &entry.headers;
  r.etag = entry.etag;
  r.age = std::to_string(age_s);
  r.x_cache = x_cache;
  r.cache_status = cache_status(std::string(detail) + "; ttl=" + std::to_string(ttl_s));
  r.has_body = !not_mod && entry.status != 204 && entry.status != 304;
  if (r.has_body) r.body = entry.body;
  if (not_mod) return r;
  switch (range.kind) {
    case RangeAnswer::partial:
      r.status = 206;
      r.body = r.body.substr(range.first, range.length);
      r.content_range = range.content_range;
      break;
    case RangeAnswer::unsatisfiable:
      r.status = 416;
      r.body = {};
      r.content_range = range.content_range;
      break;
    default:
      break;  // the whole entry (several ranges never reach here on a hit: read() forwards them)
  }
  return r;
}

// reply_of() with the range the request asks of `entry`.
Reply reply_of(const CacheEntry& entry, const identity::HeaderLookup& headers, bool get, std::int64_t now_ms,
               std::string_view x_cache, std::string_view detail) {
  return reply_of(entry, headers, range_of(entry, headers, get), now_ms, x_cache, detail);
}

// Ends a fill's flight with what became of its response. Stored: every follower is served it. Refused: when
// every purge reached this process while the flight ran (`purges_heard`), the followers are served the answer
// too. If a purge of its tags sealed the flight, they all joined before it (later requests lead flights of
// their own) and their reads overlapped the write; if none did, no write came between their requests and the
// answer, and it was refused for another reason (another fill gave a tag its first generation meanwhile, the
// fill outlasted max_fill, the storage's budget). Without `purges_heard` a purge elsewhere may have come
// before some of them, and they fetch on their own. Not storable: they fetch on their own, and the key is
// remembered as such for a while.
void end_flight(Coalescer::Lead& lead, const Stored& s, bool purges_heard) {
  if (!lead) return;
  if (s.outcome == Stored::stored)
    lead.finish(s.entry, true);
  else if (s.outcome == Stored::refused && purges_heard)
    lead.finish(s.entry);
  else if (s.outcome == Stored::not_storable)
    lead.finish(nullptr);
  else
    lead.abandon();
}

// A request field of the origin's request, as a HeaderLookup.
identity::HeaderLookup request_fields(const Origin& o) {
  return [&o](std::string_view name) { return o.request_header(name); };
}

// Reads the body of a fetch for the cache alone (a refresh, a verify) into `body`, at most `limit` bytes.
// False when the backend broke off or the body is over the limit.
asio::awaitable<bool> read_body(Origin& origin, std::uint64_t limit, std::string& body) {
  for (;;) {
    auto piece = co_await origin.read();
    if (piece.broken || body.size() + piece.data.size() > limit) co_return false;
    body.append(piece.data);
    if (piece.last) co_return true;
  }
}

// The last bytes of a relayed response, and its end. (Each co_await a statement of its own: with the first
// one inside `!last.empty() && ...`, GCC 12 built a coroutine that crashed on its first resumption.)
asio::awaitable<bool> send_last(Downstream& down, std::string_view last) {
  if (!last.empty()) {
    const bool written = co_await down.write(last);
    if (!written) co_return false;
  }
  const bool ended = co_await down.end();
  co_return ended;
}

void count_skip(VerifySkip why) {
  metrics::Metrics::get().verify_skipped(static_cast<std::size_t>(why), to_string(why));
}
static_assert(kVerifySkips <= metrics::Metrics::kVerifySkipReasons);
static_assert(kVerifyResults <= metrics::RuleMetrics::kVerifyResults);

}  // namespace

// A miss being fetched for the cache: the body teed while it streams, stored at its last piece.
struct CacheFlow::Fill {
  const config::CacheAction& rule;
  const CacheKey& key;
  const std::vector<std::string>& tags;
  Coalescer::Lead& lead;
  std::optional<std::uint64_t> heard;  // purges_heard() when the flight opened
  bool can_store = false;              // the tags' generations were read: a store can tell a purge since
  Generations seen;
  std::uint64_t l1_epoch = 0;
  unsigned status = 0;
  HeaderList head;
  bool tee = false;  // the head is storable: the body is kept (up to rule.max_body)
  // The request asked for an answer of its own (a Range, Authorization on a shared rule): that it was not
  // storable says nothing of the key's next answers, so the key is not remembered as not storable.
  bool own_answer = false;
  bool overflow = false;
  std::string body;

  // Keeps a piece of a storable body; past rule.max_body the body is dropped (the relay goes on). Returns
  // whether the body is still kept.
  bool keep(std::string_view piece) {
    if (!tee || overflow) return false;
    if (body.size() + piece.size() > rule.max_body) {
      overflow = true;
      body.clear();
      return false;
    }
    body.append(piece);
    return true;
  }
};

// A verify under way: what it compares the backend's answer with, and where its verdict goes.
struct CacheFlow::Check {
  Verifier::Ticket ticket;  // its key in flight, one of the concurrency, until the verify ends
  SharedEntry entry;        // the entry that was served
  std::string rule;
  std::string key;
  std::vector<std::string> tags;
  std::vector<std::string> ignore;  // the rule's verify_ignore
  std::uint64_t max_body = 0;
  metrics::RuleMetrics* metrics = nullptr;
  std::uint64_t age_s = 0;    // the entry's age when it was served
  std::int64_t asked_ms = 0;  // before the lookup that found it
};

std::string Request::safe_target() const {
  return log::redact_target(target, redact);
}

std::optional<std::uint64_t> CacheFlow::purges_heard() const {
  if (one_process_) return 0;
  if (!p_.l1) return std::nullopt;
  auto s = p_.l1->subscription();
  if (!p_.l1->enabled()) return std::nullopt;
  return s;
}

asio::awaitable<Served> CacheFlow::serve(const Plan& plan, const Request& req, Origin& origin,
                                         Downstream& down) {
  switch (plan.action) {
    case Action::lookup:
      co_return co_await read(plan, req, origin, down);
    case Action::bypass:
      co_return co_await bypass(plan, plan.bypass, req, origin, down);
    case Action::invalidate:
      co_return co_await write(plan, req, origin, down);
    case Action::pass:
    case Action::stream:
      break;
  }
  co_return co_await forward(origin, down, "pass", {});
}

asio::awaitable<Served> CacheFlow::bypass(const Plan& plan, Bypass why, const Request& req, Origin& origin,
                                          Downstream& down) {
  // only-if-cached (RFC 9111 section 5.2.1.7): the backend is never asked, whatever made the cache step
  // aside.
  if (plan.directives.only_if_cached) co_return co_await not_cached(down);
  req.metrics.bypass(static_cast<std::size_t>(why), to_string(why));
  const auto status = cache_status("fwd=bypass; detail=" + std::string(to_string(why)));
  co_return co_await forward(origin, down, "bypass", status);
}

asio::awaitable<Served> CacheFlow::not_cached(Downstream& down) {
  co_return Served{co_await down.send_error(504, "not in the cache (only-if-cached)"), "miss"};
}

asio::awaitable<unsigned> CacheFlow::open(Origin& origin, Downstream& down, Ask ask, Served& served) {
  const unsigned status = co_await origin.open(ask);
  saw_backend(origin, status);
  if (status == 0 && origin.failure()) served.keep_alive = co_await down.send_error(origin.failure(), {});
  co_return status;
}

asio::awaitable<Served> CacheFlow::forward(Origin& origin, Downstream& down, std::string_view cache,
                                           std::string_view status) {
  Served served{false, cache};
  if (co_await open(origin, down, Ask{}, served) == 0) co_return served;
  const std::array<Field, 2> fields{{{"X-Cache", "BYPASS"}, {"Cache-Status", status}}};
  served.keep_alive = co_await relay(origin, down, std::span(fields).first(status.empty() ? 1 : 2), nullptr);
  co_return served;
}

asio::awaitable<Served> CacheFlow::read(const Plan& plan, const Request& req, Origin& origin,
                                        Downstream& down) {
  const auto& rule = plan.policy();
  const auto& key = plan.key;
  const auto& tags = plan.tags;
  TieredCache tiered(p_.clock, *p_.storage, p_.l1);

  // 1. Lookup (unless the client asked to revalidate): a HIT, a STALE answer with a refresh, or a miss.
  SharedEntry stale;                            // kept for stale_if_error, should the backend fail
  SharedEntry validated;                        // a stale entry with a validator: the fill asks for a 304
  std::optional<Generations> read_generations;  // read with the lookup: a fill needs no second read
  std::uint64_t l1_epoch = 0;
  if (!plan.revalidate) {
    const auto asked_ms = p_.clock.now_ms();  // a purge from now on may have removed what the lookup finds
    auto found = co_await tiered.lookup(key, req.headers, tags);
    if (found.failed) co_return co_await bypass(plan, Bypass::storage_unavailable, req, origin, down);
    read_generations = std::move(found.generations);
    l1_epoch = found.l1_epoch;
    const auto now = p_.clock.now_ms();
    auto use = found.entry ? usable(*found.entry, now) : Use::none;
    // The request's own terms (RFC 9111 section 5.2.1): max-age and min-fresh make an entry stale for it,
    // max-stale accepts a stale one as it is (no refresh).
    bool stale_accepted = false;
    if (found.entry && plan.directives.choose()) {
      const auto& e = *found.entry;
      const auto fit = fit_request(plan.directives, age_of(e, now), e.fresh_until_ms - now,
                                   must_revalidate(rule, e.headers));
      stale_accepted = fit == RequestFit::stale_accepted;
      if (fit != RequestFit::fresh && use == Use::fresh) use = Use::none;
    }
    if (stale_accepted && use != Use::fresh) {
      const auto answer = reply_of(*found.entry, req.headers, req.get, now, "STALE", "hit; detail=max-stale");
      co_return Served{co_await down.send(answer), "stale"};
    }
    // Serve stale now, and refresh in the background (GET only; a request that finds the refresh under way
    // does not wait for it).
    const bool swr = use == Use::stale_while_revalidate && req.get;
    if (use == Use::fresh || swr) {
      const auto range = range_of(*found.entry, req.headers, req.get);
      if (range.kind == RangeAnswer::forward)
        // Several ranges: the cache does not build multipart/byteranges; the backend answers (unstored).
        co_return co_await forward(origin, down, "bypass",
                                   cache_status("fwd=request; detail=multiple-ranges"));
      if (swr) start_refresh(plan, origin);
      const auto answer = use == Use::fresh
                              ? reply_of(*found.entry, req.headers, range, now, "HIT", "hit")
                              : reply_of(*found.entry, req.headers, range, now, "STALE", "hit; fwd=stale");
      const bool kept = co_await down.send(answer);
      // The client has its answer: a sampled fresh hit is now checked against the backend (verify mode).
      if (use == Use::fresh && req.get)
        start_verify(plan, req, origin, std::move(found.entry), now, asked_ms);
      co_return Served{kept, swr ? "stale" : "hit"};
    }
    if (found.entry && has_validator(found.entry->headers)) validated = found.entry;
    if (found.entry && serves_on_error(*found.entry, now)) stale = std::move(found.entry);
  }

  // only-if-cached (section 5.2.1.7): nothing usable is stored, and the backend is not asked.
  if (plan.directives.only_if_cached) co_return co_await not_cached(down);

  // 2. Join the key's flight or lead it (HEAD misses and keys recently found not storable just fetch). A
  // follower is served the leader's answer when it is for the same request fields (a Vary variant for other
  // values is not: that follower tries once more, and may lead).
  Coalescer::Lead lead;
  const auto heard = purges_heard();  // before the flight opens: the fill asks whether it held throughout
  const bool fill = plan.fill && !p_.coalescer.recently_not_storable(key.key);
  for (int attempt = 0; fill && attempt < 2; ++attempt) {
    auto joined = co_await p_.coalescer.join(key.key, tags, req.wait);
    if (!joined.followed) {
      lead = std::move(joined.lead);
      break;
    }
    if (!joined.answer) break;  // no answer to share: fetch on its own
    if (matches(*joined.answer, key, req.headers)) {
      // It waited for the backend like a miss (and is counted as one); it just did not ask it again. One that
      // came while the leader stored the whole response (last_beside_store()) is served the entry: a hit.
      const bool hit = joined.stored_when_joined;
      if (!hit) req.metrics.coalesced();
      const auto answer = reply_of(*joined.answer, req.headers, req.get, p_.clock.now_ms(),
                                   hit ? "HIT" : "MISS", hit ? "hit" : "fwd=miss; collapsed");
      co_return Served{co_await down.send(answer), hit ? "hit" : "miss"};
    }
  }

  // 3. The tags' generations, read before the backend is asked: a purge since then refuses the fill.
  Fill f{rule, key, tags, lead, heard};
  if (lead && read_generations) {
    f.seen = std::move(*read_generations);
    f.l1_epoch = l1_epoch;
    f.can_store = true;
  } else if (lead) {
    auto gens = co_await tiered.generations(tags, f.l1_epoch);
    if (gens.ok()) {
      f.seen = std::move(gens.value);
      f.can_store = true;
    }
  }

  // 4. The backend. A fill asks for the whole response, or, with a stale entry that has a validator, whether
  // that entry is still good (RFC 9111 section 4.3.1); the client's conditional is then answered with what
  // comes (a 200 is a right answer to any conditional), and the next one from the stored entry.
  Ask ask{f.can_store};
  if (!f.can_store) validated.reset();
  if (validated) {
    ask.if_none_match = find_header(validated->headers, "ETag").value_or("");
    ask.if_modified_since = find_header(validated->headers, "Last-Modified").value_or("");
  }
  f.status = co_await origin.open(ask);
  saw_backend(origin, f.status);
  if (f.status == 0) {
    if (!origin.failure()) co_return Served{false, "miss"};
    if (stale && serves_on_error(*stale, p_.clock.now_ms())) {
      spdlog::warn("request {} {}: backend failed, serving a stale entry (stale_if_error)", req.id,
                   req.safe_target());
      const auto on_error = reply_of(*stale, req.headers, req.get, p_.clock.now_ms(), "STALE",
                                     "hit; fwd=stale; detail=stale-if-error");
      co_return Served{co_await down.send(on_error), "stale"};
    }
    co_return Served{co_await down.send_error(origin.failure(), {}), "miss"};
  }

  // 5. Not modified: the stored response, freshened by the 304, is stored again and served.
  if (f.status == 304 && validated) co_return co_await revalidated(f, req, origin, down, *validated);

  // 6. Decide from the head; relay and tee; the entry is stored while the client gets the last bytes.
  if (f.can_store) {
    f.head = origin.head();
    const bool authorized = shared_authorization(rule, origin);
    f.tee = storable_head(rule, ResponseHead{f.status, &f.head}, authorized) == Storability::storable;
    f.own_answer = authorized || origin.request_header("Range").has_value();
  }
  Served served{false, "miss"};
  served.keep_alive = co_await relay(origin, down, miss_fields(rule), lead ? &f : nullptr);
  lead.abandon();  // not ended at the last piece: the backend or the client broke off
  co_return served;
}

asio::awaitable<Served> CacheFlow::revalidated(Fill& f, const Request& req, Origin& origin, Downstream& down,
                                               const CacheEntry& entry) {
  std::string none;
  if (!co_await read_body(origin, 0, none)) {  // a 304 has no body; one that breaks off or has one: a failure
    f.lead.abandon();
    co_return Served{co_await down.send_error(502, "upstream 304 response broke off"), "miss"};
  }
  // Section 4.3.4: the stored response with the 304's fields; stored again under the generations read before
  // the backend was asked, so a write since then refuses it (and its flight) as it refuses a fill.
  f.status = entry.status;
  f.head = freshened_fields(entry.headers.list(), origin.head());
  f.tee = storable_head(f.rule, ResponseHead{f.status, &f.head}, shared_authorization(f.rule, origin)) ==
          Storability::storable;
  f.body = entry.body;
  const auto stored = co_await store(f, request_fields(origin));
  const auto now = p_.clock.now_ms();
  if (stored.entry) {
    const bool kept = stored.outcome == Stored::stored;
    const auto answer = reply_of(*stored.entry, req.headers, req.get, now, "HIT",
                                 kept ? "fwd=stale; fwd-status=304; stored" : "fwd=stale; fwd-status=304");
    co_return Served{co_await down.send(answer), "hit"};
  }
  // Not storable any more (the 304 says no-store, say): served this once, with the fields the 304 gave.
  CacheEntry once = entry;
  once.headers = std::move(f.head);
  once.stored_at_ms = now;
  once.initial_age_s = 0;
  once.fresh_until_ms = now;
  co_return Served{
      co_await down.send(reply_of(once, req.headers, req.get, now, "HIT", "fwd=stale; fwd-status=304")),
      "hit"};
}

asio::awaitable<bool> CacheFlow::relay(Origin& origin, Downstream& down, std::span<const Field> fields,
                                       Fill* fill, const ReadAhead* ahead) {
  if (ahead && ahead->broken && ahead->data.empty()) {
    // The backend broke off before the first byte of the answer read ahead: nothing was sent yet, so the
    // client gets a 502 (and the log says so), not the head and a cut.
    co_await down.send_error(502, "upstream connection failed");
    co_return false;
  }
  if (!co_await down.start(fields)) co_return false;
  if (ahead) {
    if (ahead->last) co_return co_await send_last(down, ahead->data);
    if (!ahead->data.empty()) {
      const bool written = co_await down.write(ahead->data);
      if (!written) co_return false;
    }
    if (ahead->broken) co_return false;
  }
  for (;;) {
    auto piece = co_await origin.read();
    if (piece.broken) co_return false;
    if (fill) fill->keep(piece.data);
    if (piece.last && fill) co_return co_await last_beside_store(*fill, origin, down, piece.data);
    if (piece.last) co_return co_await send_last(down, piece.data);
    if (!piece.data.empty()) {
      const bool written = co_await down.write(piece.data);
      if (!written) co_return false;
    }
  }
}

// The whole response is here: its entry is stored while the client gets the last bytes (one Redis round trip
// less before the client has its answer). The flight ends when the store does: a request for the key that
// comes meanwhile waits for it and is served the entry as a hit when it was stored (Lead::answered()), or the
// answer as a collapsed miss when it was refused after a purge this process heard (end_flight()); from then
// on a request finds the entry or leads a new flight. The client's next request on this connection is read
// once both are done, so it finds the entry too.
asio::awaitable<bool> CacheFlow::last_beside_store(Fill& f, Origin& origin, Downstream& down,
                                                   std::string_view last) {
  using namespace boost::asio::experimental::awaitable_operators;
  f.lead.answered();
  const auto headers = request_fields(origin);
  auto to_storage = store(f, headers);
  auto to_client = send_last(down, last);
  auto both = co_await (std::move(to_storage) && std::move(to_client));
  co_return std::get<1>(both);
}

asio::awaitable<Stored> CacheFlow::store(Fill& f, const identity::HeaderLookup& headers) {
  if (!f.can_store) {
    f.lead.abandon();  // the storage failed: the next one may fill
  } else if (!f.tee || f.overflow) {
    // One client's answer (a 206): the next request may fill. Else the response itself is not storable: do
    // not queue behind this key for a while.
    if (f.own_answer)
      f.lead.abandon();
    else
      f.lead.finish(nullptr);
  } else if (p_.owed.any(f.tags)) {
    f.lead.abandon();
  } else {
    TieredCache tiered(p_.clock, *p_.storage, p_.l1);
    auto stored = co_await tiered.store(f.rule, f.key, f.tags, f.seen, f.l1_epoch, f.status, f.head,
                                        std::move(f.body), headers);
    end_flight(f.lead, stored, f.heard && f.heard == purges_heard());
    co_return stored;
  }
  co_return Stored{};
}

void CacheFlow::start_refresh(const Plan& plan, const Origin& origin) {
  const auto heard = purges_heard();  // before the flight opens
  // One refresh per key per process: the coalescer makes it "once".
  auto lead = p_.coalescer.try_lead(plan.key.key, plan.tags);
  if (!lead) return;
  asio::co_spawn(p_.executor,
                 refresh(origin.detached_get(plan.policy().max_body), plan.policy(), plan.key,
                         std::string(plan.key.secret), plan.tags, std::move(*lead), heard),
                 asio::detached);
}

// A fetch for the cache alone (stale-while-revalidate): the response is stored, never relayed.
asio::awaitable<void> CacheFlow::refresh(std::unique_ptr<Origin> origin, config::CacheAction rule,
                                         CacheKey key, std::string secret, std::vector<std::string> tags,
                                         Coalescer::Lead lead, std::optional<std::uint64_t> heard) {
  key.secret = secret;  // the key's view went into the request's configuration, which a reload may free
  TieredCache tiered(p_.clock, *p_.storage, p_.l1);
  Fill f{rule, key, tags, lead, heard};
  auto gens = co_await tiered.generations(tags, f.l1_epoch);
  if (!gens.ok()) co_return;
  f.seen = std::move(gens.value);
  f.can_store = true;
  f.status = co_await origin->open(Ask{true});
  saw_backend(*origin, f.status);
  if (f.status == 0) co_return;
  f.head = origin->head();
  if (storable_head(rule, ResponseHead{f.status, &f.head}, shared_authorization(rule, *origin)) !=
      Storability::storable)
    co_return;
  f.tee = true;
  const bool whole = co_await read_body(*origin, rule.max_body, f.body);
  if (!whole) co_return;
  co_await store(f, request_fields(*origin));
}

void CacheFlow::saw_backend(const Origin& origin, unsigned status) {
  // No status and no failure: the exchange was abandoned (a client gone, a drain), which says nothing of
  // the backend.
  if (p_.verifier && (status != 0 || origin.failure())) p_.verifier->backend_answered(status);
}

void CacheFlow::start_verify(const Plan& plan, const Request& req, const Origin& origin, SharedEntry entry,
                             std::int64_t now_ms, std::int64_t asked_ms) {
  const auto& rule = plan.policy();
  if (!p_.verifier || !rule.verify || !entry || !p_.verifier->enabled()) return;
  auto decision = p_.verifier->sample(plan.key.key);
  if (decision.skipped) count_skip(*decision.skipped);
  if (!decision.ticket) return;
  const auto age_s = age_of(*entry, now_ms);
  Check check{.ticket = std::move(*decision.ticket),
              .entry = std::move(entry),
              .rule = plan.rule()->cfg.name,
              .key = plan.key.key,
              .tags = plan.tags,
              .ignore = rule.verify_ignore,
              .max_body = rule.max_body,
              .metrics = &req.metrics,
              .age_s = age_s,
              .asked_ms = asked_ms};
  asio::co_spawn(p_.executor, verify(origin.detached_get(rule.max_body), std::move(check)), asio::detached);
}

// A verify: the hit's request sent again for the cache alone, its answer compared with the entry that was
// served; never relayed, never stored. A backend that fails, times out, answers 5xx or 429 (it declined to
// answer, which says nothing of the entry) or sends more than the rule's max_body is an error, never a
// mismatch. A purge of the entry's tags since the lookup means the answer may be newer than a write the entry
// rightly predates: no verdict.
asio::awaitable<void> CacheFlow::verify(std::unique_ptr<Origin> origin, Check c) {
  const unsigned status = co_await origin->open(Ask{true});
  saw_backend(*origin, status);
  std::string body;
  bool whole = false;
  if (status != 0 && status < 500 && status != 429) whole = co_await read_body(*origin, c.max_body, body);
  if (!whole) {
    c.metrics->verify(static_cast<std::size_t>(VerifyResult::error), to_string(VerifyResult::error));
    co_return;
  }
  auto& verifier = *p_.verifier;
  if (verifier.purged_since(c.tags, c.asked_ms)) {
    count_skip(VerifySkip::purged);
    co_return;
  }
  const bool same = status == c.entry->status && same_body(c.entry->body, body, c.ignore);
  const auto result = same ? VerifyResult::match : VerifyResult::mismatch;
  c.metrics->verify(static_cast<std::size_t>(result), to_string(result));
  if (same) co_return;
  Mismatch m{.rule = c.rule,
             .key = c.key,
             .at_ms = p_.clock.now_ms(),
             .age_s = c.age_s,
             .cached_status = c.entry->status,
             .backend_status = status,
             .tags = verifier.purge_times(c.tags)};
  // Kept before it is logged: a reader of the log line finds it in GET /admin/verify.
  const auto line = describe(m);
  verifier.record(std::move(m));
  spdlog::warn("verify: {}", line);
}

asio::awaitable<Served> CacheFlow::write(const Plan& plan, const Request& req, Origin& origin,
                                         Downstream& down) {
  Served served{false, "pass"};
  const unsigned status =
      co_await origin.open(Ask{.keep_body = plan.conditional.empty() ? 0 : kKeptBodyLimit});
  saw_backend(origin, status);
  if (status == 0) {
    // No answer, though the request may have reached the backend (a timeout, a reset): the backend may
    // have applied the write (a handler outlives its server's write timeout), so it purges as an accepted
    // write whose answer gave no field, before the client has the error. One whose client broke off its
    // body purges only for a caller whose JWT verified: a backend that reads a body whole before it acts
    // (OpenRisk's Fiber) never acted on it, one that streams it into its handler may have; an anonymous
    // client must not empty the cache of a path for everyone by aborting writes to it.
    if (origin.may_have_arrived() && p_.storage && (!origin.body_broke_off() || plan.identity.claims)) {
      spdlog::warn("request {} {}: no answer to the write from the backend: its tags are purged all the same",
                   req.id, req.safe_target());
      co_await purge_write(plan, req, origin, std::nullopt, "", false);
      served.cache = "purge";
    }
    if (origin.failure() != 0) served.keep_alive = co_await down.send_error(origin.failure(), {});
    co_return served;
  }
  // A non-error answer (RFC 9111 section 4.4: 2xx or 3xx) means the backend may have changed the state.
  if (status < 200 || status >= 400 || !p_.storage) {
    served.keep_alive = co_await relay(origin, down, kPassFields, nullptr);
    co_return served;
  }
  // The backend accepted the write: purge before the client can see the answer (read-your-writes), with the
  // entries of the URIs its Location and Content-Location name on this host (section 4.4).
  // Tags rendered from the answer (`{answer.field}`): its first kKeptBodyLimit bytes are read before the
  // purge; a longer, broken, encoded or non-JSON answer, or one without the field, purges the fallback.
  std::string answer;
  ReadAhead ahead;
  HeaderList head;  // the answer's fields, when a tag or a Location needs them
  if (!plan.answered.empty() || req.uri_tag_of) head = origin.head();
  if (!plan.answered.empty()) {
    for (;;) {
      auto piece = co_await origin.read();
      if (piece.broken) {
        ahead.broken = true;
        break;
      }
      answer.append(piece.data);
      if (piece.last) {
        ahead.last = true;
        break;
      }
      if (answer.size() > kKeptBodyLimit) break;
    }
    ahead.data = answer;
  }
  std::vector<std::string> located;
  if (req.uri_tag_of) {
    for (std::string_view name : {"Location", "Content-Location"}) {
      auto reference = find_header(head, name);
      if (!reference) continue;
      if (auto tag = req.uri_tag_of(*reference)) located.push_back(std::move(*tag));
    }
  }
  co_await purge_write(plan, req, origin, ahead.last ? std::optional<std::string_view>(answer) : std::nullopt,
                       find_header(head, "Content-Type").value_or(""),
                       find_header(head, "Content-Encoding").has_value(), std::move(located));
  served.cache = "purge";
  served.keep_alive =
      co_await relay(origin, down, kPassFields, nullptr, plan.answered.empty() ? nullptr : &ahead);
  co_return served;
}

asio::awaitable<void> CacheFlow::purge_write(const Plan& plan, const Request& req, const Origin& origin,
                                             std::optional<std::string_view> answer,
                                             std::string_view answer_type, bool answer_encoded,
                                             std::vector<std::string> located) {
  auto tags = plan.tags;
  auto add = [&tags](std::string t) {
    if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(std::move(t));
  };
  // Conditional tags (`unless_body_only`): purged unless the body shows the write changed only their fields.
  if (!plan.conditional.empty()) {
    const auto body = origin.request_body();
    const auto content_type = req.headers("Content-Type").value_or("");
    const auto content_encoding = req.headers("Content-Encoding");
    for (const auto& c : plan.conditional) {
      if (!content_encoding && skips_purge(body, content_type, *c.unless_body_only)) {
        spdlog::debug("request {} {}: the body names only fields of unless_body_only: '{}' not purged",
                      req.id, req.safe_target(), c.tag);
        req.metrics.purge_skipped();
      } else {
        tags.push_back(c.tag);
      }
    }
  }
  // Tags from the answer; without one (none came, or not whole), their fallbacks.
  if (!plan.answered.empty()) {
    std::size_t fell_back = 0;
    for (auto& t : answer_tags(plan.answered, answer, answer_type, answer_encoded, fell_back))
      add(std::move(t));
    if (fell_back != 0) {
      spdlog::debug(
          "request {} {}: {} tag(s) of the answer purged as their fallback (the answer lacks the field)",
          req.id, req.safe_target(), fell_back);
      req.metrics.purge_fallbacks(fell_back);
    }
  }
  for (auto& t : located) add(std::move(t));
  if (!plan.unrendered.empty()) {  // one line a write, however many tags (an anonymous write names them all)
    std::string names;
    for (const auto& t : plan.unrendered) names += (names.empty() ? "'" : ", '") + t + "'";
    spdlog::warn(
        "request {} {}: rule '{}' cannot render tag(s) {} without a verified JWT; those entries stay until "
        "they expire",
        req.id, req.safe_target(), plan.rule()->cfg.name, names);
  }
  const auto purged = co_await purge(tags);
  if (purged == StorageStatus::ok) {
    req.metrics.invalidation();
  } else {
    spdlog::error(
        "request {} {}: purge of {} tag(s) failed ({}): reads of them bypass the cache until a replay of the "
        "purge succeeds",
        req.id, req.safe_target(), tags.size(), to_string(purged));
  }
}

asio::awaitable<StorageStatus> CacheFlow::purge_tiers(const std::vector<std::string>& tags) {
  const auto t0 = std::chrono::steady_clock::now();
  // Noted before (a verify that overlaps the purge has no verdict) and after (the time it was last purged).
  if (p_.verifier) p_.verifier->purged(tags);
  const auto result = co_await p_.storage->purge(tags);
  if (p_.verifier) p_.verifier->purged(tags);
  count_storage_op(*p_.storage, metrics::StorageOp::purge, result, t0);
  // After the storage, so that a read which fetched an old entry before the purge carries an older L1 epoch.
  if (p_.l1) p_.l1->invalidate(tags);
  // Fetches in flight for these tags may have begun before the write: requests from now on do not join them.
  p_.coalescer.seal(tags);
  if (result == StorageStatus::ok) metrics::Metrics::get().invalidated_tags(tags.size());
  co_return result;
}

asio::awaitable<StorageStatus> CacheFlow::purge(const std::vector<std::string>& tags) {
  const auto result = co_await purge_tiers(tags);
  if (result == StorageStatus::ok)
    co_await replay_owed();
  else
    p_.owed.add(tags);  // owed until a replay succeeds: reads of these tags bypass the cache meanwhile
  co_return result;
}

// Retries the purges that failed after accepted writes (cache/pending_purges.hpp) once this worker's storage
// answers again. One replay at a time per process; failures leave them owed.
asio::awaitable<void> CacheFlow::replay_owed() {
  if (!p_.storage || p_.owed.empty() || !p_.storage->up()) co_return;
  auto batch = p_.owed.claim(p_.clock.steady());
  if (batch.tags.empty()) co_return;
  struct Release {
    PendingPurges& owed;
    const util::Clock& clock;
    bool settled = false;
    ~Release() {
      if (!settled) owed.release(clock.steady());
    }
  } release{p_.owed, p_.clock};
  if (co_await purge_tiers(batch.tags) != StorageStatus::ok) co_return;
  p_.owed.settle(batch);
  release.settled = true;
  spdlog::info("replayed the failed purge of {} tag(s); {} tag(s) still owed", batch.tags.size(),
               p_.owed.size());
}

}  // namespace orc::cache
