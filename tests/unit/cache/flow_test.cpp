// The cache flow (cache/flow.hpp) in-process and in simulated time: a scripted backend behind the Origin
// port, a recording client behind the Downstream port, the memory storage and a util::ManualClock. No socket,
// no sleep: TTL, stale-while-revalidate and stale-if-error move with the clock; a held backend request makes
// the read-after-write races deterministic. Verify mode (cache.verify) runs its background fetch on the same
// scripted backend.
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
#include "support/http_message.hpp"
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
  bool never_arrived = false;  // with fails_with: no connection was made (Origin::may_have_arrived)
  bool breaks_off = false;     // the body stops half-way
  std::size_t piece_size = 2;  // the body arrives in pieces of this size
  bool hold = false;
  std::string request_body;  // what a write sends (kept by the origin when the flow asks)

  int opened = 0;
  std::vector<std::size_t> keep_body;                         // per request: Ask::keep_body
  std::vector<bool> unconditional;                            // per request
  std::vector<std::string> if_none_match, if_modified_since;  // per request: a revalidation's validators
  std::vector<std::string> authorization;  // per request: its Authorization field ("-" when none)

  void release() {
    hold = false;
    gate.cancel();
  }
  asio::steady_timer gate;
};

class ScriptedOrigin final : public Origin {
 public:
  ScriptedOrigin(ScriptedBackend& b, HeaderList request) : b_(b), request_(std::move(request)) {}

  asio::awaitable<unsigned> open(const Ask& ask) override {
    ++b_.opened;
    b_.unconditional.push_back(ask.unconditional);
    b_.if_none_match.emplace_back(ask.if_none_match);
    b_.if_modified_since.emplace_back(ask.if_modified_since);
    b_.authorization.emplace_back(request_header("Authorization").value_or("-"));
    b_.keep_body.push_back(ask.keep_body);
    kept_ = ask.keep_body && b_.request_body.size() <= ask.keep_body;
    request_body_ = b_.request_body;
    // What the backend answers is fixed when the request reaches it, not when a held request is released.
    status_ = b_.status;
    head_ = b_.headers;
    body_ = b_.body;
    failure_ = b_.fails_with;
    arrived_ = !b_.never_arrived;
    breaks_ = b_.breaks_off;
    if (b_.hold) {
      b_.gate.expires_at(asio::steady_timer::time_point::max());
      co_await b_.gate.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return failure_ ? 0 : status_;
  }
  unsigned failure() const override { return failure_; }
  bool may_have_arrived() const override { return arrived_; }
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
  std::optional<std::string_view> request_body() const override {
    if (!kept_) return std::nullopt;
    return std::string_view(request_body_);
  }

 private:
  ScriptedBackend& b_;
  HeaderList request_;
  unsigned status_ = 0, failure_ = 0;
  bool arrived_ = true;
  bool breaks_ = false;
  HeaderList head_;
  std::string body_;
  std::size_t at_ = 0;
  bool kept_ = false;
  std::string request_body_;
};

// The client: records what the flow sent it.
// The memory storage behind a gate: while `hold` is set, a put waits (after it was asked for) until
// release().
class GatedStorage final : public Storage {
 public:
  GatedStorage(asio::io_context& ctx, std::shared_ptr<Storage> inner)
      : gate_(ctx), inner_(std::move(inner)) {}
  std::string_view name() const override { return inner_->name(); }
  asio::awaitable<StorageResult<Snapshot>> read(const std::string& key,
                                                const std::vector<std::string>& tags) override {
    co_return co_await inner_->read(key, tags);
  }
  asio::awaitable<StorageResult<Generations>> generations(const std::vector<std::string>& tags) override {
    co_return co_await inner_->generations(tags);
  }
  asio::awaitable<StorageResult<bool>> put_if_current(const std::string& key, std::string blob,
                                                      std::chrono::milliseconds ttl,
                                                      const std::vector<std::string>& tags,
                                                      const Generations& seen) override {
    ++puts;
    if (hold) {
      gate_.expires_at(asio::steady_timer::time_point::max());
      co_await gate_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return co_await inner_->put_if_current(key, std::move(blob), ttl, tags, seen);
  }
  asio::awaitable<StorageStatus> purge(const std::vector<std::string>& tags) override {
    co_return co_await inner_->purge(tags);
  }
  void release() {
    hold = false;
    gate_.cancel();
  }

  bool hold = false;
  int puts = 0;

 private:
  asio::steady_timer gate_;
  std::shared_ptr<Storage> inner_;
};

struct RecordingClient final : public Downstream {
  unsigned status = 0;  // of send(), or of the relayed head (the backend's)
  std::string x_cache, cache_status, body, etag, content_range;
  HeaderList headers;  // of send(): the entry's stored fields
  bool whole = false;  // a reply sent whole, or a relayed response ended
  unsigned error = 0;  // send_error()
  unsigned relayed_status = 0;

  asio::awaitable<bool> send(const Reply& r) override {
    status = r.status;
    x_cache = r.x_cache;
    cache_status = r.cache_status;
    etag = r.etag;
    content_range = r.content_range;
    headers = r.headers->list();
    if (r.has_body) body = r.body;
    whole = true;
    co_return true;
  }
  asio::awaitable<bool> send_error(unsigned s, std::string_view) override {
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
    p.key = CacheKey{.material = "rule=flow-test\npath=/r\n", .key = "orc:e:k1"};
    p.tags = {"risks:t-1", "uri:/r"};
    p.fill = get;
    return p;
  }
  // A read whose request says `cache_control`.
  Plan read_plan_of(std::string_view cache_control) const {
    Plan p = read_plan();
    p.directives = request_directives(cache_control, "");
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
  std::shared_ptr<GatedStorage> storage_ = std::make_shared<GatedStorage>(
      ctx_, std::make_shared<MemoryStorage>(1 << 20, [this] { return clock_.steady(); }));
  Coalescer coalescer_{clock_};
  PendingPurges owed_;
  // Off (sample 0) unless a test configures it; its sampler always draws 0, so a sample above 0 takes every
  // hit.
  std::shared_ptr<Verifier> verifier_ = std::make_shared<Verifier>(clock_, [] { return 0.0; });
  CacheFlow flow_{{storage_, nullptr, coalescer_, owed_, clock_, ctx_.get_executor(), verifier_}};
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

std::optional<std::string_view> field(const HeaderList& fields, std::string_view name) {
  return find_header(fields, name);
}

// RFC 9111 sections 4.3.1, 4.3.3 and 4.3.4: a stale entry with a validator is revalidated; a 304 freshens its
// fields and its lifetime, and the stored body is served.
TEST_F(FlowTest, AStaleEntryWithAValidatorIsRevalidatedAndA304FreshensIt) {
  rule_.cfg.cache.ttl = 10s;
  backend_.headers = {{"ETag", "\"o-1\""}, {"X-Version", "1"}};
  get();
  clock_.advance(11s);
  backend_.status = 304;
  backend_.headers = {{"ETag", "\"o-1\""}, {"X-Version", "2"}};
  backend_.body = "";
  auto revalidated = get({{"If-None-Match", "\"client\""}});
  ASSERT_EQ(backend_.opened, 2);
  EXPECT_TRUE(backend_.unconditional[1]) << "the client's validators are not the cache's";
  EXPECT_EQ(backend_.if_none_match[1], "\"o-1\"");
  EXPECT_EQ(revalidated->served->cache, "hit");
  EXPECT_EQ(revalidated->client.status, 200u);
  EXPECT_EQ(revalidated->client.body, "v1");
  EXPECT_EQ(revalidated->client.cache_status, "openrisk-cache; fwd=stale; fwd-status=304; stored; ttl=10");
  EXPECT_EQ(field(revalidated->client.headers, "X-Version"), "2")
      << "the 304's fields replace the stored ones";

  auto hit = get();
  EXPECT_EQ(hit->served->cache, "hit");
  EXPECT_EQ(field(hit->client.headers, "X-Version"), "2");
  EXPECT_EQ(backend_.opened, 2) << "fresh again for the rule's ttl";

  // Changed meanwhile: the 200 is relayed and stored as a fill.
  clock_.advance(11s);
  backend_.status = 200;
  backend_.headers = {{"ETag", "\"o-2\""}};
  backend_.body = "v2";
  auto changed = get();
  EXPECT_EQ(backend_.if_none_match[2], "\"o-1\"");
  EXPECT_EQ(changed->served->cache, "miss");
  EXPECT_EQ(changed->client.body, "v2");
  EXPECT_EQ(get()->client.body, "v2");
  EXPECT_EQ(backend_.opened, 3);
}

// Section 5.2.2.4: with ttl: origin, a no-cache response with a validator is stored and revalidated before
// every reuse; Last-Modified serves as the validator when there is no ETag.
TEST_F(FlowTest, NoCacheIsStoredAndRevalidatedBeforeEveryReuse) {
  rule_.cfg.cache.ttl_origin = true;
  backend_.headers = {{"Cache-Control", "no-cache"}, {"Last-Modified", "Tue, 14 Nov 2023 22:00:00 GMT"}};
  get();
  backend_.status = 304;
  backend_.headers = {};
  backend_.body = "";
  for (int i = 0; i < 2; ++i) {
    auto r = get();
    EXPECT_EQ(r->client.body, "v1");
    EXPECT_EQ(r->client.status, 200u);
  }
  ASSERT_EQ(backend_.opened, 3) << "one revalidation per reuse";
  EXPECT_EQ(backend_.if_modified_since[1], "Tue, 14 Nov 2023 22:00:00 GMT");
  EXPECT_EQ(backend_.if_none_match[1], "");
}

// RFC 9110 section 14: one byte range of a stored 200 is answered 206 from the entry.
TEST_F(FlowTest, ARangeOfAStoredResponseIsAnsweredFromIt) {
  backend_.body = "0123456789";
  get();
  auto partial = get({{"Range", "bytes=2-4"}});
  EXPECT_EQ(partial->client.status, 206u);
  EXPECT_EQ(partial->client.body, "234");
  EXPECT_EQ(partial->client.content_range, "bytes 2-4/10");
  auto unsatisfiable = get({{"Range", "bytes=20-"}});
  EXPECT_EQ(unsatisfiable->client.status, 416u);
  EXPECT_EQ(unsatisfiable->client.content_range, "bytes */10");
  EXPECT_EQ(backend_.opened, 1);
  auto several = get({{"Range", "bytes=0-1,4-5"}});
  EXPECT_EQ(several->served->cache, "bypass") << "multipart/byteranges is the backend's";
  EXPECT_EQ(several->client.cache_status, "openrisk-cache; fwd=request; detail=multiple-ranges");
  EXPECT_EQ(backend_.opened, 2);
}

// RFC 9111 section 5.2.1: the request's max-stale, min-fresh and only-if-cached.
TEST_F(FlowTest, RequestDirectivesChooseWhatTheCacheMayAnswerWith) {
  rule_.cfg.cache.ttl = 10s;
  backend_.headers = {
      {"ETag", "\"o-1\""}};  // kept past its freshness (validation_window): max-stale can use it
  get();
  clock_.advance(8s);
  auto not_fresh_enough = start(read_plan_of("min-fresh=5"));
  EXPECT_EQ(not_fresh_enough->served->cache, "miss") << "2 s of freshness left, 5 asked for";
  EXPECT_EQ(backend_.opened, 2);

  clock_.advance(15s);
  backend_.body = "v3";
  auto stale = start(read_plan_of("max-stale=60"));
  EXPECT_EQ(stale->served->cache, "stale");
  EXPECT_EQ(stale->client.x_cache, "STALE");
  EXPECT_EQ(stale->client.body, "v1");
  EXPECT_EQ(backend_.opened, 2) << "max-stale: the stale entry as it is, no refresh";

  auto only = start(read_plan_of("only-if-cached"));
  EXPECT_EQ(only->client.error, 504u);
  EXPECT_EQ(backend_.opened, 2) << "only-if-cached never asks the backend";
}

// A miss's entry is stored while the client gets the last bytes: the client has the whole response before the
// store is done. A request for the key that comes meanwhile waits for the store and is served the stored
// entry as a hit, without asking the backend; after it, a request finds the entry.
TEST_F(FlowTest, TheClientHasAMissBeforeItsStoreEndsAndAReadMeanwhileIsServedTheStoredEntry) {
  storage_->hold = true;
  auto miss = start(read_plan());
  EXPECT_EQ(storage_->puts, 1) << "the fill's store was not asked for";
  EXPECT_TRUE(miss->client.whole) << "the client waited for the store";
  EXPECT_EQ(miss->client.body, "v1");
  EXPECT_FALSE(miss->served) << "the exchange ended before its store";

  auto meanwhile = start(read_plan());
  EXPECT_FALSE(meanwhile->client.whole) << "a read during the store did not wait for it";
  EXPECT_EQ(coalescer_.waiting(), 1u);

  storage_->release();
  settle();
  ASSERT_TRUE(miss->served);
  EXPECT_EQ(miss->served->cache, "miss");
  ASSERT_TRUE(meanwhile->served);
  EXPECT_EQ(meanwhile->served->cache, "hit");
  EXPECT_EQ(meanwhile->client.x_cache, "HIT");
  EXPECT_EQ(meanwhile->client.body, "v1");
  EXPECT_EQ(backend_.opened, 1) << "the read during the store asked the backend";
  auto after = get();
  EXPECT_EQ(after->served->cache, "hit");
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

// A write that got no answer (a timeout or a reset once it was sent) may have been applied all the same: it
// purges as an accepted write whose answer gave no field (tags from the answer fall back), before the client
// has the error. One that never reached the backend (no connection) purges nothing.
TEST_F(FlowTest, AWriteWithoutAnAnswerPurgesUnlessItNeverReachedTheBackend) {
  Plan answered = write_plan();
  answered.tags = {"uri:/w"};
  answered.answered = {{rules::PartialTag{{"risk:t-1:", ""}, {"risk_id"}}, "risks:t-1"}};
  for (const Plan& plan : {write_plan(), answered}) {
    SCOPED_TRACE(plan.answered.empty() ? "the rule's tags" : "the fallback of a tag from the answer");
    backend_.fails_with = 0;
    backend_.never_arrived = false;
    get();
    ASSERT_EQ(get()->served->cache, "hit");

    backend_.fails_with = 502;
    backend_.never_arrived = true;
    auto unreached = start(plan);
    ASSERT_TRUE(unreached->served);
    EXPECT_EQ(unreached->client.error, 502u);
    backend_.fails_with = 0;
    EXPECT_EQ(get()->served->cache, "hit") << "a write that never reached the backend changed nothing";

    for (unsigned failure : {504u, 502u}) {
      backend_.fails_with = failure;
      backend_.never_arrived = false;
      auto unanswered = start(plan);
      ASSERT_TRUE(unanswered->served);
      EXPECT_EQ(unanswered->client.error, failure);
      backend_.fails_with = 0;
      EXPECT_EQ(get()->served->cache, "miss") << failure << ": the backend may have applied the write";
      EXPECT_EQ(get()->served->cache, "hit");
    }
  }
}

// Issue 17: a tag with `unless_body_only` is purged unless the write's JSON body names only those fields; the
// body is kept only when the plan has such a tag.
TEST_F(FlowTest, AConditionalTagIsPurgedUnlessTheBodyNamesOnlyItsFields) {
  const std::vector<std::string> fields{"title", "description"};
  auto conditional_write = [&] {
    Plan p = write_plan();
    p.tags = {"uri:/w"};  // the entry's own tags are conditional here
    p.conditional = {{"risks:t-1", &fields}};
    return p;
  };
  const HeaderList json{{"Content-Type", "application/json"}};
  get();

  backend_.request_body = R"({"title":"renamed"})";
  auto skipped = start(conditional_write(), json);
  ASSERT_TRUE(skipped->served);
  EXPECT_EQ(skipped->served->cache, "purge");
  EXPECT_EQ(backend_.keep_body.back(), kKeptBodyLimit) << "a conditional purge asks for the body";
  EXPECT_EQ(get()->served->cache, "hit") << "a title-only body leaves the conditional tag";

  backend_.request_body = R"({"title":"renamed","status":"OPEN"})";
  start(conditional_write(), json);
  EXPECT_EQ(get()->served->cache, "miss") << "another field purges it";

  get();
  backend_.request_body = R"({"title":"renamed"})";
  start(conditional_write(), {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}});
  EXPECT_EQ(get()->served->cache, "miss") << "an encoded body is not read: it purges";

  get();
  backend_.request_body = R"({"description":")" + std::string(kKeptBodyLimit, 'x') + R"("})";
  start(conditional_write(), json);
  EXPECT_EQ(get()->served->cache, "miss") << "a body over the kept limit purges";

  get();
  backend_.request_body = R"({"title":"renamed"})";
  start(write_plan(), json);
  EXPECT_EQ(backend_.keep_body.back(), 0u) << "no conditional tag: the body is not kept";
  EXPECT_EQ(get()->served->cache, "miss");
}

// Issue 17: a tag rendered from the write's answer (`{answer.plan.risk_id}`) purges what the answer names; an
// answer that does not give it (none, other JSON, encoded, too long, broken off) purges the fallback. The
// client gets the answer whole either way, after the purge.
TEST_F(FlowTest, ATagFromTheAnswerPurgesWhatItNamesElseItsFallback) {
  auto read_of = [&](const std::string& risk) {
    Plan p = read_plan();
    p.key.key = "orc:e:" + risk;
    p.tags = {"risk:t-1:" + risk, "details:t-1", "uri:/r/" + risk};
    return p;
  };
  auto answered_write = [&] {
    Plan p = write_plan();
    p.tags = {"uri:/w"};
    p.answered = {{rules::PartialTag{{"risk:t-1:", ""}, {"plan.risk_id"}}, "details:t-1"}};
    return p;
  };
  // Fills both risks' entries (each read a miss or a hit); then whether each is still a hit.
  auto fill = [&] {
    backend_.status = 200;
    backend_.headers = {{"Content-Type", "application/json"}};
    backend_.breaks_off = false;
    backend_.body = "v1";
    for (const char* risk : {"a", "b"}) start(read_of(risk));
    for (const char* risk : {"a", "b"}) EXPECT_EQ(start(read_of(risk))->served->cache, "hit") << risk;
  };
  auto cached = [&](const char* risk) { return start(read_of(risk))->served->cache == "hit"; };

  fill();
  const std::string answer = R"({"id":"p-1","plan":{"risk_id":"b","progress":50}})";
  backend_.body = answer;
  auto w = start(answered_write());
  ASSERT_TRUE(w->served);
  EXPECT_EQ(w->served->cache, "purge");
  EXPECT_TRUE(w->served->keep_alive);
  EXPECT_EQ(w->client.body, answer) << "the answer read ahead is relayed whole";
  EXPECT_TRUE(w->client.whole);
  EXPECT_TRUE(cached("a")) << "the answer names risk b only";
  EXPECT_FALSE(cached("b"));

  struct Case {
    HeaderList head;
    std::string body;
    bool breaks_off;
    const char* why;
  };
  const std::string padded =
      R"({"plan":{"risk_id":"b"},"pad":")" + std::string(kKeptBodyLimit, 'x') + R"("})";
  const Case fallbacks[] = {
      {{{"Content-Type", "application/json"}}, "", false, "no answer (a 204)"},
      {{{"Content-Type", "application/json"}},
       R"({"id":"s-1","mitigation_id":"p-1"})",
       false,
       "no such field"},
      {{{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}},
       answer,
       false,
       "an encoded answer"},
      {{{"Content-Type", "text/plain"}}, answer, false, "not JSON"},
      {{{"Content-Type", "application/json"}}, padded, false, "longer than the read-ahead"},
      {{{"Content-Type", "application/json"}}, answer, true, "the backend broke off"},
  };
  for (const auto& c : fallbacks) {
    SCOPED_TRACE(c.why);
    fill();
    backend_.headers = c.head;
    backend_.body = c.body;
    backend_.breaks_off = c.breaks_off;
    auto fell_back = start(answered_write());
    ASSERT_TRUE(fell_back->served);
    EXPECT_EQ(fell_back->served->cache, "purge");
    backend_.breaks_off = false;
    EXPECT_FALSE(cached("a"));
    EXPECT_FALSE(cached("b"));
    if (c.breaks_off) {
      EXPECT_FALSE(fell_back->served->keep_alive) << "a broken answer closes the connection";
      EXPECT_FALSE(fell_back->client.whole);
    } else {
      EXPECT_EQ(fell_back->client.body, c.body);
      EXPECT_TRUE(fell_back->client.whole);
    }
  }

  fill();
  backend_.status = 409;
  backend_.body = answer;
  start(answered_write());
  EXPECT_TRUE(cached("a") && cached("b")) << "a refused write purges nothing";
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

// Two fills of different keys that found their shared tag without a generation: the first to store gives it
// one, the second is refused though nothing was written. Its followers are still served its answer: no purge
// of its tags reached the process while it ran, so their reads overlapped no write.
TEST_F(FlowTest, FollowersOfAFillRefusedWithoutAPurgeAreServedItsAnswer) {
  Plan other = read_plan();
  other.key = CacheKey{.material = "rule=flow-test\npath=/r\nquery=page=2\n", .key = "orc:e:k2"};
  backend_.hold = true;
  auto second = start(other);  // reads the tags' generations: none yet
  auto follower = start(other);
  EXPECT_EQ(coalescer_.waiting(), 1u);
  backend_.hold = false;
  auto first = get();  // stored: its tags get their first generations
  EXPECT_EQ(first->served->cache, "miss");
  backend_.release();
  settle();
  ASSERT_TRUE(second->served && follower->served);
  EXPECT_EQ(backend_.opened, 2) << "the follower of the refused fill was sent to the backend again";
  EXPECT_EQ(follower->client.body, "v1");
  EXPECT_EQ(follower->client.cache_status, "openrisk-cache; fwd=miss; collapsed; ttl=60");
  EXPECT_EQ(get()->served->cache, "hit");
  EXPECT_EQ(start(other)->served->cache, "miss") << "the refused fill was stored";
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

// ---- verify mode (cache.verify) --------------------------------------------------------------------------

// The process-wide counters of the test rule (metrics are one registry per process: tests compare deltas).
double verifies(std::string_view result) {
  return test::metric_sample(
             metrics::Metrics::get().render(),
             "openrisk_cache_verify_total{result=\"" + std::string(result) + "\",rule=\"flow-test\"}")
      .value_or(0);
}
double verify_skips(std::string_view reason) {
  return test::metric_sample(metrics::Metrics::get().render(),
                             "openrisk_cache_verify_skipped_total{reason=\"" + std::string(reason) + "\"}")
      .value_or(0);
}

class FlowVerifyTest : public FlowTest {
 protected:
  FlowVerifyTest() {
    config::VerifyConfig v;
    v.sample = 1;
    v.max_per_second = 1000;
    v.concurrency = 10;
    verifier_->configure(v);
  }
  const HeaderList caller_{{"Authorization", "Bearer caller-1"}};
};

TEST_F(FlowVerifyTest, AHitIsFetchedOnceMoreInTheBackgroundWithTheClientsCredential) {
  const double matches = verifies("match");
  auto miss = get(caller_);
  ASSERT_EQ(miss->served->cache, "miss");
  EXPECT_EQ(backend_.opened, 1) << "a miss is not verified";
  clock_.advance(1s);
  auto hit = get(caller_);
  EXPECT_EQ(hit->served->cache, "hit");
  EXPECT_EQ(hit->client.body, "v1");
  ASSERT_EQ(backend_.opened, 2) << "exactly one background fetch for the sampled hit";
  EXPECT_EQ(backend_.authorization[1], "Bearer caller-1") << "the verify carries the client's credential";
  EXPECT_TRUE(backend_.unconditional[1]) << "a verify asks for the whole response";
  EXPECT_EQ(verifies("match"), matches + 1);
  EXPECT_EQ(verifier_->in_flight(), 0u) << "the verify released its key";
  settle();
  EXPECT_EQ(backend_.opened, 2);
}

TEST_F(FlowVerifyTest, AChangedBackendCountsAMismatchNamingTheTagsLastPurge) {
  get(caller_);
  clock_.advance(1s);
  const auto purged_at = clock_.now_ms();
  ASSERT_EQ(start(write_plan(), caller_)->served->cache, "purge");
  clock_.advance(1s);
  get(caller_);  // filled again after the write
  const auto stored_at = clock_.now_ms();
  clock_.advance(3s);
  backend_.body = "v2";  // a change the rulebook purged nothing for
  const double mismatches = verifies("mismatch");
  auto hit = get(caller_);
  EXPECT_EQ(hit->client.body, "v1") << "the client is served the entry; the verify comes after";
  EXPECT_EQ(verifies("mismatch"), mismatches + 1);
  auto kept = verifier_->mismatches();
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].rule, "flow-test");
  EXPECT_EQ(kept[0].key, "orc:e:k1") << "the storage key, not its material";
  EXPECT_EQ(kept[0].age_s, static_cast<std::uint64_t>((clock_.now_ms() - stored_at) / 1000));
  EXPECT_EQ(kept[0].cached_status, 200u);
  EXPECT_EQ(kept[0].backend_status, 200u);
  ASSERT_EQ(kept[0].tags.size(), 2u);
  EXPECT_EQ(kept[0].tags[0].tag, "risks:t-1");
  EXPECT_EQ(kept[0].tags[0].purged_at_ms, purged_at);
  EXPECT_EQ(kept[0].tags[1].tag, "uri:/r");
  EXPECT_EQ(kept[0].tags[1].purged_at_ms, purged_at);
  EXPECT_EQ(get(caller_)->client.body, "v1") << "a verify never stores";

  backend_.status = 404;  // another status is a mismatch too
  backend_.body = "v1";
  get(caller_);
  EXPECT_EQ(verifies("mismatch"), mismatches + 3);
  EXPECT_EQ(verifier_->mismatches().at(0).backend_status, 404u);
}

TEST_F(FlowVerifyTest, IgnoredJsonMembersDoNotMakeAMismatch) {
  rule_.cfg.cache.verify_ignore = {"generated_at"};
  backend_.body = R"({"id":1,"generated_at":"t1"})";
  get(caller_);
  backend_.body = R"({"generated_at":"t2","id":1})";
  const double matches = verifies("match");
  get(caller_);
  EXPECT_EQ(verifies("match"), matches + 1);
  backend_.body = R"({"generated_at":"t3","id":2})";
  const double mismatches = verifies("mismatch");
  get(caller_);
  EXPECT_EQ(verifies("mismatch"), mismatches + 1);
}

TEST_F(FlowVerifyTest, ABackend5xxFailureOr429CountsAnErrorNeverAMismatch) {
  get(caller_);
  backend_.status = 503;
  backend_.body = "down";
  const double errors = verifies("error");
  const double mismatches = verifies("mismatch");
  get(caller_);
  EXPECT_EQ(backend_.opened, 2);
  EXPECT_EQ(verifies("error"), errors + 1);
  EXPECT_EQ(verifies("mismatch"), mismatches);

  const double degraded = verify_skips("degraded");
  get(caller_);
  EXPECT_EQ(backend_.opened, 2) << "no verify while the backend has just failed";
  EXPECT_EQ(verify_skips("degraded"), degraded + 1);

  clock_.advance(Verifier::kDegradedFor);
  backend_.status = 200;
  backend_.fails_with = 504;  // no answer at all (the entry is fresh for 60 s: still a hit)
  get(caller_);
  EXPECT_EQ(backend_.opened, 3);
  EXPECT_EQ(verifies("error"), errors + 2);

  clock_.advance(Verifier::kDegradedFor);
  backend_.fails_with = 0;
  backend_.status = 429;  // the backend declined to answer: nothing learnt about the entry
  get(caller_);
  EXPECT_EQ(backend_.opened, 4);
  EXPECT_EQ(verifies("error"), errors + 3);
  EXPECT_EQ(verifies("mismatch"), mismatches);
  EXPECT_TRUE(verifier_->mismatches().empty());
}

TEST_F(FlowVerifyTest, ARuleThatOptsOutIsNeverVerified) {
  rule_.cfg.cache.verify = false;
  get(caller_);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get(caller_)->served->cache, "hit");
  EXPECT_EQ(backend_.opened, 1);
}

TEST_F(FlowVerifyTest, NoVerifyOnAMissAStaleHitAHeadABypassAPassOrAnInvalidate) {
  const double all = verifies("match") + verifies("mismatch") + verifies("error");
  get(caller_);  // miss
  EXPECT_EQ(backend_.opened, 1);

  start(read_plan(false), caller_, false);  // a HEAD hit
  EXPECT_EQ(backend_.opened, 1);

  Plan bypass = read_plan();
  bypass.action = Action::bypass;
  bypass.bypass = Bypass::no_store;
  ASSERT_EQ(start(bypass, caller_)->served->cache, "bypass");
  EXPECT_EQ(backend_.opened, 2) << "the bypass itself, nothing more";

  Plan pass = read_plan();
  pass.action = Action::pass;
  ASSERT_EQ(start(pass, caller_)->served->cache, "pass");
  EXPECT_EQ(backend_.opened, 3);

  clock_.advance(1s);
  ASSERT_EQ(start(write_plan(), caller_)->served->cache, "purge");
  EXPECT_EQ(backend_.opened, 4);

  rule_.cfg.cache.ttl = 10s;
  rule_.cfg.cache.stale_while_revalidate = 60s;
  clock_.advance(1s);
  get(caller_);  // a miss again (purged)
  clock_.advance(15s);
  ASSERT_EQ(get(caller_)->served->cache, "stale");
  EXPECT_EQ(backend_.opened, 6) << "the stale hit's refresh, no verify";
  EXPECT_EQ(verifies("match") + verifies("mismatch") + verifies("error"), all);
}

TEST_F(FlowVerifyTest, OneVerifyPerKeyAndNoVerdictWhenAPurgeOfItsTagsOverlapsIt) {
  get(caller_);
  clock_.advance(1s);
  backend_.body = "v2";  // what the held verify will be answered: a mismatch, but for the purge below
  backend_.hold = true;
  get(caller_);  // its verify is held at the backend
  EXPECT_EQ(backend_.opened, 2);
  const double in_flight = verify_skips("in_flight");
  get(caller_);
  EXPECT_EQ(backend_.opened, 2) << "a second verify of the key while the first runs";
  EXPECT_EQ(verify_skips("in_flight"), in_flight + 1);

  // A write purges the tags while the verify waits for the backend: its answer may show the write, which the
  // entry rightly predates.
  const std::vector<std::string> tags{"risks:t-1"};  // outlives the purge (a coroutine keeps the reference)
  asio::co_spawn(ctx_, flow_.purge(tags), asio::detached);
  settle();
  const double purged = verify_skips("purged");
  const double verdicts = verifies("match") + verifies("mismatch") + verifies("error");
  backend_.release();
  settle();
  EXPECT_EQ(verify_skips("purged"), purged + 1);
  EXPECT_EQ(verifies("match") + verifies("mismatch") + verifies("error"), verdicts);
  EXPECT_TRUE(verifier_->mismatches().empty());
  EXPECT_EQ(verifier_->in_flight(), 0u);
}

}  // namespace
}  // namespace orc::cache
