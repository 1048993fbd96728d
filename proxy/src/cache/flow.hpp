// The cache flow of one worker (design.md sections 2 and 6b): what the plan decided, carried out top to
// bottom. A read: lookup, then a HIT, a STALE answer (and a background refresh), or a miss: join or lead the
// key's flight, open the backend, read its head, decide whether it is storable, relay it and tee its body,
// store it before the client has the last bytes. A write: open the backend; a 2xx answer purges the tags
// before the client sees it. Bypasses and passes are relayed, marked. With cache.verify, a sampled fresh HIT
// is fetched again in the background once the client has it, and compared (cache/verify.hpp).
//
// The flow does no HTTP itself: it drives two ports, the backend of the request (Origin) and its client
// (Downstream). http/ implements them over Beast (http/relay.hpp); tests script them
// (tests/unit/cache/flow_test.cpp), with MemoryStorage and a util::ManualClock, without a socket.
// Storage failures never fail a request: the cache steps aside (X-Cache: BYPASS) and the backend answers.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/cache_entry.hpp"
#include "cache/coalescer.hpp"
#include "cache/l1_cache.hpp"
#include "cache/pending_purges.hpp"
#include "cache/plan.hpp"
#include "cache/storage.hpp"
#include "cache/tiered.hpp"
#include "cache/verify.hpp"
#include "metrics/metrics.hpp"
#include "util/clock.hpp"

namespace orc::cache {

// A response field the flow adds (X-Cache, Cache-Status), or, with `remove`, one it takes out (a targeted
// cache-control field the rule does not forward).
struct Field {
  std::string_view name;
  std::string_view value;
  bool remove = false;
};

// How open() asks the backend. `unconditional`: without the client's validators (a fill needs the whole
// response, or a 304 for the stored one). `if_none_match` / `if_modified_since`: the stored response's
// validators, for a revalidation (RFC 9111 section 4.3.1); empty: not sent.
struct Ask {
  bool unconditional = false;
  std::string_view if_none_match;
  std::string_view if_modified_since;
  // A write whose purge depends on its body (`unless_body_only`): keep the request body, up to this many
  // bytes, for request_body(). 0: not kept.
  std::size_t keep_body = 0;
};

// How much of a write's body is kept to decide its conditional purges; a longer body purges them all.
inline constexpr std::size_t kKeptBodyLimit = 64 * 1024;

// The backend of one request, as the flow drives it.
class Origin {
 public:
  virtual ~Origin() = default;
  // Sends the request and reads the response head (informational responses are the port's business).
  // Returns the status, or 0 when the exchange failed: failure() says how.
  virtual boost::asio::awaitable<unsigned> open(const Ask& ask) = 0;
  // After open() returned 0: the status that answers the backend's failure (502, or 504 for a timeout); 0
  // when the client's side failed (a bad or slow request body, a client gone), which the port answered
  // already.
  virtual unsigned failure() const = 0;
  // After open() returned 0: whether the request may have reached the backend (some of it was sent on a
  // connection, on any attempt, and no answer came: a timeout, a reset, an answer the proxy cannot relay, a
  // client gone meanwhile). False only when no connection to the backend was made.
  virtual bool may_have_arrived() const { return true; }
  // After open() returned 0: the client's body broke off (malformed, too slow, too large, the client gone).
  // With may_have_arrived(), the head and part of the body went to the backend, which never got a whole
  // request (a body within limits.request_buffer breaks off before any of it is sent).
  virtual bool body_broke_off() const { return false; }
  // After open(): the response's end-to-end fields (never a hop-by-hop one).
  virtual HeaderList head() const = 0;
  // The next piece of the body, valid until the next read(). `last`: the body is whole (the piece may be
  // empty); `broken`: the backend broke off (nothing more comes).
  struct Piece {
    std::string_view data;
    bool last = false;
    bool broken = false;
  };
  virtual boost::asio::awaitable<Piece> read() = 0;
  // A field of the request this origin sends (Vary records what it had).
  virtual std::optional<std::string_view> request_header(std::string_view name) const = 0;
  // After open() with Ask::keep_body: the request body as sent, when it was whole within that limit;
  // none otherwise (not kept, longer, or not read to its end).
  virtual std::optional<std::string_view> request_body() const { return std::nullopt; }
  // A GET of the same target for the cache alone (a background refresh, a verify): the client's request
  // fields (its credential too) without its validators, a body of at most `body_limit` bytes, the upstream
  // timeouts, and it outlives this request.
  virtual std::unique_ptr<Origin> detached_get(std::uint64_t body_limit) const = 0;
};

// A response the cache makes whole: a stored entry, or a 304 from one.
struct Reply {
  unsigned status = 200;
  const StoredFields* headers = nullptr;  // the entry's stored fields
  std::string_view etag;                  // the entry's (it outlives the send)
  std::string age;
  std::string_view x_cache;
  std::string cache_status;
  std::string_view body;  // sent unless has_body is false (the port leaves it out for HEAD)
  bool has_body = true;
  std::string content_range;  // a 206 or 416 answered from the entry: its Content-Range
};

// The client of one request. Every call returns false when the client is gone (or, for the calls that end
// a response, when the connection must close).
class Downstream {
 public:
  virtual ~Downstream() = default;
  virtual boost::asio::awaitable<bool> send(const Reply& r) = 0;
  // Answers with the proxy's error response: `status` and `why`, or, with `why` empty, the backend's failure
  // as Origin::failure() reported it.
  virtual boost::asio::awaitable<bool> send_error(unsigned status, std::string_view why) = 0;
  // Relays the backend's response as Origin::open() read it, with `fields` added: the head, the body pieces,
  // the end.
  virtual boost::asio::awaitable<bool> start(std::span<const Field> fields) = 0;
  virtual boost::asio::awaitable<bool> write(std::string_view piece) = 0;
  virtual boost::asio::awaitable<bool> end() = 0;
};

// The request as the flow needs it beyond the plan.
struct Request {
  bool get = true;                         // GET; otherwise HEAD (for the lookup action)
  const identity::HeaderLookup& headers;   // as the plan read them
  std::string_view id;                     // the request id, for log lines
  std::string_view target;                 // as received: log lines show safe_target()
  const std::vector<std::string>& redact;  // the query parameters log lines redact
  metrics::RuleMetrics& metrics;           // of the matched rule
  std::chrono::milliseconds wait{0};       // how long a follower waits for the flight it joined
  // The uri: tag of a URI reference a write's answer names (Location, Content-Location): set when it is of
  // this host and a cache rule stores GETs of its path; empty function: none is looked up.
  std::function<std::optional<std::string>(std::string_view reference)> uri_tag_of;

  std::string safe_target() const;
};

// What the flow did, for the access log and the request metrics.
struct Served {
  bool keep_alive = false;
  std::string_view cache = "pass";  // closed set: hit, miss, stale, bypass, pass, purge
};

class CacheFlow {
 public:
  // What a worker's flow works with: its storage (null: caching is off), the process's L1 (null: none),
  // coalescer and owed purges, the clock, the worker's executor (for background refreshes and verifies), and
  // the process's verifier (null: no verify mode). All outlive the flow.
  struct Parts {
    std::shared_ptr<Storage> storage;
    L1Cache* l1 = nullptr;
    Coalescer& coalescer;
    PendingPurges& owed;
    const util::Clock& clock;
    boost::asio::any_io_executor executor;
    std::shared_ptr<Verifier> verifier = nullptr;
  };
  explicit CacheFlow(Parts parts)
      : p_(std::move(parts)), one_process_(p_.storage && p_.storage->name() == "memory") {}

  Storage* storage() const { return p_.storage.get(); }

  // Serves one request as `plan` says (any action).
  boost::asio::awaitable<Served> serve(const Plan& plan, const Request& req, Origin& origin,
                                       Downstream& down);

  // The one purge: the storage, then the L1, then the coalescer's flights of the tags are sealed (also when
  // the storage failed). A failure leaves the tags owed (reads of them bypass the cache until a replay
  // succeeds); a success counts the tags invalidated and replays what is owed. Needs storage().
  boost::asio::awaitable<StorageStatus> purge(const std::vector<std::string>& tags);
  // Retries the owed purges once the storage answers (one replay at a time per process).
  boost::asio::awaitable<void> replay_owed();
  // Whether purges are owed (a replay has work), in any worker of the process.
  bool owes_purges() const { return !p_.owed.empty(); }

 private:
  struct Fill;
  boost::asio::awaitable<Served> read(const Plan& plan, const Request& req, Origin& origin, Downstream& down);
  boost::asio::awaitable<Served> write(const Plan& plan, const Request& req, Origin& origin,
                                       Downstream& down);
  // Purges what a write may have changed: the rule's tags, its conditional ones unless the request body
  // spares them, those rendered from `answer` (the backend's, when whole; their fallbacks without one), and
  // `located` (the URIs its Location and Content-Location name).
  boost::asio::awaitable<void> purge_write(const Plan& plan, const Request& req, const Origin& origin,
                                           std::optional<std::string_view> answer,
                                           std::string_view answer_type, bool answer_encoded,
                                           std::vector<std::string> located = {});
  // Forwards the request around the cache (`why`), or answers 504 when the plan says only-if-cached.
  boost::asio::awaitable<Served> bypass(const Plan& plan, Bypass why, const Request& req, Origin& origin,
                                        Downstream& down);
  // The 504 of only-if-cached without a usable entry.
  boost::asio::awaitable<Served> not_cached(Downstream& down);
  // Opens the backend; when that fails, answers the client with the proxy's error (when there is one to
  // give) and sets `served.keep_alive`. Returns the status, 0 on a failure.
  boost::asio::awaitable<unsigned> open(Origin& origin, Downstream& down, Ask ask, Served& served);
  // Relays the backend's answer as it is, marked X-Cache: BYPASS and, when given, with `cache_status`.
  boost::asio::awaitable<Served> forward(Origin& origin, Downstream& down, std::string_view cache,
                                         std::string_view cache_status);
  // The start of a body read before the relay (a write's answer that tags are rendered from).
  struct ReadAhead {
    std::string_view data;
    bool last = false;    // the body is whole
    bool broken = false;  // the backend broke off after `data`
  };
  // Relays the response open() read, with `fields`, the body from `ahead` on when given; a fill tees the
  // body and is stored at its last piece.
  boost::asio::awaitable<bool> relay(Origin& origin, Downstream& down, std::span<const Field> fields,
                                     Fill* fill, const ReadAhead* ahead = nullptr);
  // A fill's last piece: stored while the client gets `last` and the end of the response. Returns whether
  // the client got them.
  boost::asio::awaitable<bool> last_beside_store(Fill& f, Origin& origin, Downstream& down,
                                                 std::string_view last);
  // A revalidation answered 304: the entry freshened with the 304's fields, stored and served.
  boost::asio::awaitable<Served> revalidated(Fill& f, const Request& req, Origin& origin, Downstream& down,
                                             const CacheEntry& entry);
  // Stores the fill's response and ends its flight with what became of it.
  boost::asio::awaitable<Stored> store(Fill& fill, const identity::HeaderLookup& headers);
  // Spawns refresh() on the worker's executor unless the key's refresh is under way (not a coroutine: GCC 12
  // warns of a mismatched frame delete in read() otherwise).
  void start_refresh(const Plan& plan, const Origin& origin);
  // `secret`: the key's, owned (the refresh outlives the request and its configuration).
  boost::asio::awaitable<void> refresh(std::unique_ptr<Origin> origin, config::CacheAction rule, CacheKey key,
                                       std::string secret, std::vector<std::string> tags,
                                       Coalescer::Lead lead, std::optional<std::uint64_t> heard);
  // After a fresh GET hit was sent: spawns verify() on the worker's executor when the rule does not opt out
  // and the verifier samples it (not a coroutine, like start_refresh). `asked_ms`: the time before the lookup
  // that found `entry` (a purge of its tags since then leaves the verify without a verdict).
  void start_verify(const Plan& plan, const Request& req, const Origin& origin, SharedEntry entry,
                    std::int64_t now_ms, std::int64_t asked_ms);
  struct Check;
  boost::asio::awaitable<void> verify(std::unique_ptr<Origin> origin, Check check);
  // What `origin.open` gave (a status, or 0 with a failure when the backend gave none): the verifier pauses
  // while the backend fails.
  void saw_backend(const Origin& origin, unsigned status);
  // The storage operation that purges, counted; no L1, no owed bookkeeping.
  boost::asio::awaitable<StorageStatus> purge_tiers(const std::vector<std::string>& tags);
  // Whether every purge of any instance reaches this process's coalescer: with the memory storage always,
  // with Redis while the L1's purge listener is subscribed. A value that stays the same from a flight's
  // start to its end means no purge was missed in between.
  std::optional<std::uint64_t> purges_heard() const;

  Parts p_;
  const bool one_process_;  // the memory storage: every purge of any instance is this process's
};

}  // namespace orc::cache
