// The cache flow (cache/flow.hpp) in-process and in simulated time: a scripted backend behind the Origin
// port, a recording client behind the Downstream port, the memory storage and a util::ManualClock. No socket,
// no sleep: TTL, stale-while-revalidate and stale-if-error move with the clock; a held backend request makes
// the read-after-write races deterministic.
#include "cache/flow.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>

#include "cache/memory_storage.hpp"
#include "util/strings.hpp"

namespace orc::cache {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// The backend: answers every request with what it holds at the time the request reaches it; a held request
// waits (after it was sent) until release().
struct ScriptedBackend {
  explicit ScriptedBackend(asio::io_context& ctx) : gate(ctx) {}

  unsigned status = 200;
  HeaderList headers = {{"Content-Type", "application/json"}};
  std::string body = "v1";
  unsigned fails_with = 0;     // 502 / 504: the request fails before a head
  bool breaks_off = false;     // the body stops half-way
  std::size_t piece_size = 2;  // the body arrives in pieces of this size
  bool hold = false;

  int opened = 0;
  std::vector<bool> unconditional;  // per request

  void release() {
    hold = false;
    gate.cancel();
  }
  asio::steady_timer gate;
};

class ScriptedOrigin final : public Origin {
 public:
  ScriptedOrigin(ScriptedBackend& b, HeaderList request) : b_(b), request_(std::move(request)) {}

  asio::awaitable<unsigned> open(bool unconditional) override {
    ++b_.opened;
    b_.unconditional.push_back(unconditional);
    // What the backend answers is fixed when the request reaches it, not when a held request is released.
    status_ = b_.status;
    head_ = b_.headers;
    body_ = b_.body;
    failure_ = b_.fails_with;
    breaks_ = b_.breaks_off;
    if (b_.hold) {
      b_.gate.expires_at(asio::steady_timer::time_point::max());
      co_await b_.gate.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return failure_ ? 0 : status_;
  }
  unsigned failure() const override { return failure_; }
  HeaderList head() const override { return head_; }
  asio::awaitable<Piece> read() override {
    if (breaks_ && at_ >= body_.size() / 2) co_return Piece{{}, false, true};
    const auto n = std::min(b_.piece_size, body_.size() - at_);
    Piece p{std::string_view(body_).substr(at_, n), at_ + n == body_.size()};
    at_ += n;
    co_return p;
  }
  std::optional<std::string_view> request_header(std::string_view name) const override {
    for (const auto& [k, v] : request_)
      if (util::iequals(k, name)) return std::string_view(v);  // field names: any case, as in HTTP
    return std::nullopt;
  }
  std::unique_ptr<Origin> detached_get(std::uint64_t) const override {
    return std::make_unique<ScriptedOrigin>(b_, request_);
  }

 private:
  ScriptedBackend& b_;
  HeaderList request_;
  unsigned status_ = 0, failure_ = 0;
  bool breaks_ = false;
  HeaderList head_;
  std::string body_;
  std::size_t at_ = 0;
};

// The client: records what the flow sent it.
struct RecordingClient final : public Downstream {
  unsigned status = 0;  // of send(), or of the relayed head (the backend's)
  std::string x_cache, cache_status, body, etag;
  bool whole = false;  // a reply sent whole, or a relayed response ended
  unsigned error = 0;  // send_error()
  unsigned relayed_status = 0;

  asio::awaitable<bool> send(const Reply& r) override {
    status = r.status;
    x_cache = r.x_cache;
    cache_status = r.cache_status;
    etag = r.etag;
    if (r.has_body) body = r.body;
    whole = true;
    co_return true;
  }
  asio::awaitable<bool> send_error(unsigned s) override {
    error = status = s;
    whole = true;
    co_return true;
  }
  asio::awaitable<bool> start(std::span<const Field> fields) override {
    status = relayed_status;
    for (const auto& f : fields) {
      if (f.name == "X-Cache") x_cache = f.value;
      if (f.name == "Cache-Status") cache_status = f.value;
    }
    co_return true;
  }
  asio::awaitable<bool> write(std::string_view piece) override {
    body += piece;
    co_return true;
  }
  asio::awaitable<bool> end() override {
    whole = true;
    co_return true;
  }
};

class FlowTest : public ::testing::Test {
 protected:
  FlowTest() {
    rule_.cfg.name = "flow-test";
    rule_.cfg.action = config::ActionKind::cache;
    rule_.cfg.cache.ttl = 60s;
    write_rule_.cfg.name = "flow-test-write";
    write_rule_.cfg.action = config::ActionKind::invalidate;
  }

  // A read of the key as the plan would give it.
  Plan read_plan(bool get = true) const {
    Plan p;
    p.action = Action::lookup;
    p.match = rules::Match{&rule_, {}, {}};
    p.key = CacheKey{"orc:e:k1", "rule=flow-test\npath=/r\n"};
    p.tags = {"risks:t-1", "uri:/r"};
    p.fill = get;
    return p;
  }
  Plan write_plan() const {
    Plan p;
    p.action = Action::invalidate;
    p.match = rules::Match{&write_rule_, {}, {}};
    p.tags = {"risks:t-1", "uri:/r"};
    return p;
  }

  // Starts serving one request; it runs as far as it can with settle().
  struct Call {
    HeaderList request;
    RecordingClient client;
    std::unique_ptr<ScriptedOrigin> origin;
    std::optional<Served> served;
  };
  std::shared_ptr<Call> start(Plan plan, HeaderList request = {}, bool get = true) {
    auto call = std::make_shared<Call>();
    call->request = std::move(request);
    call->origin = std::make_unique<ScriptedOrigin>(backend_, call->request);
    asio::co_spawn(ctx_, serve(call, std::move(plan), get), asio::detached);
    settle();
    return call;
  }
  asio::awaitable<void> serve(std::shared_ptr<Call> call, Plan plan, bool get) {
    const identity::HeaderLookup headers = [call](std::string_view name) {
      return call->origin->request_header(name);
    };
    const Request req{get, headers, "req-1", "/r", redact_, metrics::Metrics::get().rule("flow-test"), 30s};
    call->client.relayed_status = backend_.status;
    call->served = co_await flow_.serve(plan, req, *call->origin, call->client);
  }
  // Runs every handler that is ready, until nothing is (a held request stays held).
  void settle() {
    ctx_.restart();
    while (ctx_.poll() > 0) {
    }
  }
  std::shared_ptr<Call> get(HeaderList request = {}) {
    auto c = start(read_plan(), std::move(request));
    EXPECT_TRUE(c->served) << "the read did not finish";
    return c;
  }

  asio::io_context ctx_;
  util::ManualClock clock_;
  std::shared_ptr<MemoryStorage> storage_ =
      std::make_shared<MemoryStorage>(1 << 20, [this] { return clock_.steady(); });
  Coalescer coalescer_{clock_};
  PendingPurges owed_;
  CacheFlow flow_{{storage_, nullptr, coalescer_, owed_, clock_, ctx_.get_executor()}};
  ScriptedBackend backend_{ctx_};
  rules::CompiledRule rule_, write_rule_;
  std::vector<std::string> redact_;
};

TEST_F(FlowTest, AMissIsFetchedWholeRelayedAndStoredThenHitsUntilItsTtlPasses) {
  auto miss = get({{"If-None-Match", "\"abc\""}});
  EXPECT_EQ(miss->served->cache, "miss");
  EXPECT_EQ(miss->client.x_cache, "MISS");
  EXPECT_EQ(miss->client.body, "v1");
  ASSERT_EQ(backend_.opened, 1);
  EXPECT_TRUE(backend_.unconditional[0]) << "a fill asks for the whole response";

  backend_.body = "v2";
  clock_.advance(59'999ms);
  auto hit = get();
  EXPECT_EQ(hit->served->cache, "hit");
  EXPECT_EQ(hit->client.x_cache, "HIT");
  EXPECT_EQ(hit->client.body, "v1");
  EXPECT_EQ(hit->client.cache_status, "openrisk-cache; hit; ttl=0");
  EXPECT_EQ(backend_.opened, 1);

  clock_.advance(1ms);
  auto expired = get();
  EXPECT_EQ(expired->served->cache, "miss") << "past its TTL";
  EXPECT_EQ(expired->client.body, "v2");
  EXPECT_EQ(backend_.opened, 2);
}

TEST_F(FlowTest, AConditionalHitIsAnswered304WithTheOriginsValidator) {
  backend_.headers = {{"ETag", "\"o-1\""}};
  get();
  auto hit = get();
  ASSERT_EQ(hit->served->cache, "hit");
  EXPECT_EQ(hit->client.etag, "\"o-1\"") << "the origin's ETag is kept";
  auto conditional = get({{"If-None-Match", "\"o-1\""}});
  EXPECT_EQ(conditional->client.status, 304u);
  EXPECT_TRUE(conditional->client.body.empty());
  auto other = get({{"If-None-Match", "\"o-2\""}});
  EXPECT_EQ(other->client.status, 200u);
  EXPECT_EQ(other->client.body, "v1");
  EXPECT_EQ(backend_.opened, 1);
}

TEST_F(FlowTest, AHeadMissIsRelayedAndNotStored) {
  auto head = start(read_plan(false), {}, false);
  ASSERT_TRUE(head->served);
  EXPECT_EQ(head->served->cache, "miss");
  EXPECT_FALSE(backend_.unconditional[0]) << "a HEAD miss is only relayed: the client's validators stay";
  get();
  EXPECT_EQ(backend_.opened, 2) << "the HEAD stored nothing";
}

TEST_F(FlowTest, StaleWhileRevalidateAnswersAtOnceAndRefreshesOnceInTheBackground) {
  rule_.cfg.cache.ttl = 10s;
  rule_.cfg.cache.stale_while_revalidate = 20s;
  get();
  clock_.advance(15s);
  backend_.body = "v2";
  backend_.hold = true;
  auto stale = get();
  EXPECT_EQ(stale->served->cache, "stale");
  EXPECT_EQ(stale->client.x_cache, "STALE");
  EXPECT_EQ(stale->client.body, "v1");
  EXPECT_EQ(backend_.opened, 2) << "one refresh, held at the backend";
  EXPECT_TRUE(backend_.unconditional[1]) << "a refresh asks for the whole response";

  // While the refresh is held, another stale hit answers at once: no second refresh, no waiter.
  auto again = get();
  EXPECT_EQ(again->served->cache, "stale");
  EXPECT_EQ(backend_.opened, 2);
  EXPECT_EQ(coalescer_.waiting(), 0u);

  backend_.release();
  settle();
  auto fresh = get();
  EXPECT_EQ(fresh->served->cache, "hit") << "the refresh stored the new answer";
  EXPECT_EQ(fresh->client.body, "v2");
  EXPECT_EQ(backend_.opened, 2);

  clock_.advance(30s + 10s);
  auto expired = get();
  EXPECT_EQ(expired->served->cache, "miss") << "past the TTL and the stale window";
}

TEST_F(FlowTest, StaleIfErrorAnswersABackendFailureWithinItsWindowOnly) {
  rule_.cfg.cache.ttl = 10s;
  rule_.cfg.cache.stale_if_error = 60s;
  get();
  clock_.advance(30s);
  backend_.fails_with = 502;
  auto stale = get();
  EXPECT_EQ(stale->served->cache, "stale");
  EXPECT_EQ(stale->client.body, "v1");
  EXPECT_EQ(stale->client.cache_status, "openrisk-cache; hit; fwd=stale; detail=stale-if-error; ttl=-20");
  EXPECT_EQ(stale->client.error, 0u);

  clock_.advance(40s);  // 70 s after the store: past the TTL and the error window
  auto failed = get();
  EXPECT_EQ(failed->served->cache, "miss");
  EXPECT_EQ(failed->client.error, 502u);
}

TEST_F(FlowTest, AResponseThatIsNotStorableIsRelayedAndTheKeyIsNotQueuedBehind) {
  backend_.headers = {{"Cache-Control", "no-store"}};
  auto first = get();
  EXPECT_EQ(first->client.body, "v1");
  auto second = get();
  EXPECT_EQ(second->served->cache, "miss");
  EXPECT_EQ(backend_.opened, 2);
  EXPECT_FALSE(backend_.unconditional[1]) << "a key recently not storable is fetched as asked, not filled";
}

TEST_F(FlowTest, ABodyOverTheRuleLimitIsRelayedWholeAndNotStored) {
  rule_.cfg.cache.max_body = 3;
  backend_.body = "0123456789";
  auto first = get();
  EXPECT_EQ(first->client.body, "0123456789");
  EXPECT_TRUE(first->client.whole);
  get();
  EXPECT_EQ(backend_.opened, 2);
}

TEST_F(FlowTest, ABackendThatBreaksOffMidBodyStoresNothing) {
  backend_.body = "0123456789";
  backend_.breaks_off = true;
  auto broken = get();
  EXPECT_FALSE(broken->served->keep_alive);
  EXPECT_FALSE(broken->client.whole);
  backend_.breaks_off = false;
  auto next = get();
  EXPECT_EQ(next->served->cache, "miss");
  EXPECT_EQ(next->client.body, "0123456789");
}

TEST_F(FlowTest, AnAcceptedWritePurgesItsTagsARefusedOneDoesNot) {
  get();
  backend_.status = 422;
  auto refused = start(write_plan());
  ASSERT_TRUE(refused->served);
  EXPECT_EQ(refused->served->cache, "pass");
  EXPECT_EQ(get()->served->cache, "hit");

  backend_.status = 200;
  auto accepted = start(write_plan());
  ASSERT_TRUE(accepted->served);
  EXPECT_EQ(accepted->served->cache, "purge");
  EXPECT_EQ(accepted->client.x_cache, "BYPASS");
  EXPECT_EQ(get()->served->cache, "miss") << "the write purged the entry";
}

// Issue 14 item 5: a read that starts after a write is never handed the answer of a fetch that began before
// it; the reads that joined that fetch before the write are served its answer (they overlapped the write).
TEST_F(FlowTest, AReadAfterAWriteNeverJoinsAFetchThatBeganBeforeIt) {
  backend_.hold = true;
  auto leader = start(read_plan());
  ASSERT_FALSE(leader->served);
  auto before = start(read_plan());  // joins the leader's flight
  EXPECT_EQ(coalescer_.waiting(), 1u);
  EXPECT_EQ(backend_.opened, 1);

  // The write reaches the backend after the held GET did; its 2xx purges (and seals the flight).
  backend_.hold = false;
  backend_.body = "v2";
  auto write = start(write_plan());
  ASSERT_TRUE(write->served);
  EXPECT_EQ(write->served->cache, "purge");

  // A read after the write leads a fetch of its own, which sees the write.
  backend_.hold = true;
  auto after = start(read_plan());
  EXPECT_EQ(backend_.opened, 3) << "the read after the write joined the old flight";
  backend_.release();
  settle();
  ASSERT_TRUE(leader->served && before->served && after->served);
  EXPECT_EQ(leader->client.body, "v1");
  EXPECT_EQ(before->client.body, "v1") << "it joined before the write: the leader's answer is a right one";
  EXPECT_EQ(before->client.cache_status, "openrisk-cache; fwd=miss; collapsed; ttl=60");
  EXPECT_EQ(after->client.body, "v2");
  EXPECT_EQ(backend_.opened, 3) << "the follower that joined before the write was not sent to the backend";
  auto next = get();
  EXPECT_EQ(next->served->cache, "hit");
  EXPECT_EQ(next->client.body, "v2") << "the pre-write answer was not stored";
}

// Issue 14 item 6: coalescing works for Vary responses: a follower is served the leader's answer only when it
// is for the same values of the fields the response varies on; a follower of another variant fetches its own.
TEST_F(FlowTest, AVaryResponseIsSharedWithFollowersOfTheSameVariantOnly) {
  backend_.headers = {{"Vary", "Accept-Language"}};
  backend_.body = "english";
  backend_.hold = true;
  auto leader = start(read_plan(), {{"Accept-Language", "en"}});
  auto same = start(read_plan(), {{"Accept-Language", "en"}});
  auto other = start(read_plan(), {{"Accept-Language", "de"}});
  EXPECT_EQ(coalescer_.waiting(), 2u);
  backend_.body = "deutsch";  // what the backend answers a request that reaches it from now on
  backend_.release();
  settle();
  ASSERT_TRUE(leader->served && same->served && other->served);
  EXPECT_EQ(same->client.body, "english");
  EXPECT_EQ(same->client.cache_status, "openrisk-cache; fwd=miss; collapsed; ttl=60");
  EXPECT_EQ(other->client.body, "deutsch") << "a follower of another variant was served the leader's answer";
  EXPECT_EQ(backend_.opened, 2);
}

TEST_F(FlowTest, AFillRefusedByAPurgeWhileItRanIsNotStored) {
  backend_.hold = true;
  auto leader = start(read_plan());
  backend_.hold = false;
  start(write_plan());
  backend_.release();
  settle();
  ASSERT_TRUE(leader->served);
  EXPECT_EQ(leader->client.body, "v1");
  EXPECT_EQ(get()->served->cache, "miss") << "an answer fetched before the write must not be stored";
}

TEST_F(FlowTest, AFailedPurgeIsOwedAndReadsOfItsTagsAreNotFilledUntilItIsReplayed) {
  get();
  owed_.add({"risks:t-1"});
  // The flow does not store under owed tags (the plan bypasses them before the flow sees them).
  clock_.advance(61s);
  auto miss = get();
  EXPECT_EQ(miss->served->cache, "miss");
  EXPECT_EQ(get()->served->cache, "miss") << "nothing was stored under an owed tag";
  asio::co_spawn(ctx_, flow_.replay_owed(), asio::detached);
  settle();
  EXPECT_TRUE(owed_.empty());
  get();
  EXPECT_EQ(get()->served->cache, "hit");
}

}  // namespace
}  // namespace orc::cache
