// Unit tests for identity/caller: credential lookup, cookies, bearer tokens, scope resolution and HMACs.
#include "identity/caller.hpp"

#include <gtest/gtest.h>
#include <strings.h>

#include <map>

#include "test_helpers.hpp"

namespace orc::identity {
namespace {

using Kind = config::CredentialSource::Kind;

constexpr long long kCallerNow = 1'700'000'000;
const std::string kKeySecret = "key-secret";
const std::string kJwtSecret = "jwt-secret";

// Case-insensitive header lookup over a fixed set.
HeaderLookup lookup(std::map<std::string, std::string> headers) {
  return [h = std::move(headers)](std::string_view name) -> std::optional<std::string_view> {
    for (const auto& [k, v] : h)
      if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0)
        return std::string_view(v);
    return std::nullopt;
  };
}

config::IdentityConfig three_sources() {
  config::IdentityConfig id;
  id.credential = {{Kind::header, "X-Api-Key"}, {Kind::cookie, "sid"}, {Kind::query, "token"}};
  return id;
}

TEST(FindCredential, HeaderThenCookieThenQuery) {
  auto id = three_sources();
  auto all = find_credential(id, lookup({{"x-api-key", "from-header"}, {"Cookie", "sid=from-cookie"}}),
                             util::Query("token=from-query"));
  ASSERT_TRUE(all);
  EXPECT_EQ(all->value, "from-header");
  EXPECT_EQ(all->source.kind, Kind::header);
  EXPECT_EQ(all->describe(), "header X-Api-Key");

  auto cookie =
      find_credential(id, lookup({{"Cookie", "a=1; sid=from-cookie"}}), util::Query("token=from-query"));
  ASSERT_TRUE(cookie);
  EXPECT_EQ(cookie->value, "from-cookie");
  EXPECT_EQ(cookie->describe(), "cookie sid");

  auto query = find_credential(id, lookup({{"Cookie", "other=1"}}), util::Query("a=1&token=from-query"));
  ASSERT_TRUE(query);
  EXPECT_EQ(query->value, "from-query");
  EXPECT_EQ(query->describe(), "query token");

  EXPECT_FALSE(find_credential(id, lookup({{"Authorization", "Bearer x"}}), util::Query("tokens=1")));
}

TEST(FindCredential, BlankValuesAreSkippedAndValuesTrimmed) {
  auto id = three_sources();
  auto c = find_credential(id, lookup({{"X-Api-Key", "   "}, {"Cookie", "sid=  abc  "}}), util::Query(""));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->value, "abc");
  EXPECT_EQ(c->source.kind, Kind::cookie);
  EXPECT_FALSE(find_credential(id, lookup({{"Cookie", "sid="}}), util::Query("token=")));
}

TEST(FindCredential, DefaultIsTheAuthorizationHeader) {
  config::IdentityConfig id;
  auto c = find_credential(id, lookup({{"authorization", "Bearer t"}}), util::Query("token=q"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->value, "t");  // the default source reads "Bearer <token>"
  EXPECT_FALSE(c->malformed);
  EXPECT_EQ(c->describe(), "header Authorization");
  EXPECT_FALSE(find_credential(id, lookup({}), util::Query("token=q")));
}

// shared/openrisk-api.md section 11: the backend takes exactly "Bearer <token>" and, when the header is there
// but malformed, answers 401 without looking at the or_access cookie.
TEST(FindCredential, AHeaderOutsideItsSchemeIsMalformedAndStopsTheSearch) {
  config::IdentityConfig id;
  id.credential = {{Kind::header, "Authorization", "Bearer"}, {Kind::cookie, "or_access"}};
  for (const char* value : {"bearer t", "BEARER t", "Bearer  t", "Bearer", "Bearer t u", "Bearer\tt",
                            "Basic dXNlcjpw", "t", "Bearer t, Bearer u"}) {
    auto c = find_credential(id, lookup({{"Authorization", value}, {"Cookie", "or_access=cookie-token"}}),
                             util::Query());
    ASSERT_TRUE(c) << value;
    EXPECT_TRUE(c->malformed) << value;
    EXPECT_EQ(c->value, "") << value;
    EXPECT_EQ(c->describe(), "header Authorization");
  }
  // A blank header is no header: the cookie is read.
  auto blank = find_credential(id, lookup({{"Authorization", "  "}, {"Cookie", "or_access=cookie-token"}}),
                               util::Query());
  ASSERT_TRUE(blank);
  EXPECT_FALSE(blank->malformed);
  EXPECT_EQ(blank->value, "cookie-token");

  id.credential[0].scheme = "Token";  // another spelling, from the config
  auto other = find_credential(id, lookup({{"Authorization", "Token abc"}}), util::Query());
  ASSERT_TRUE(other);
  EXPECT_EQ(other->value, "abc");
  EXPECT_TRUE(find_credential(id, lookup({{"Authorization", "Bearer abc"}}), util::Query())->malformed);
}

TEST(CookieValue, Parsing) {
  EXPECT_EQ(cookie_value("a=1; sid=xyz ; b=2", "sid"), "xyz");
  EXPECT_EQ(cookie_value("sid=first; sid=second", "sid"), "first");
  EXPECT_EQ(cookie_value("  sid = spaced ", "sid"), "spaced");
  EXPECT_EQ(cookie_value("flag; sid=v=w", "sid"), "v=w");
  EXPECT_EQ(cookie_value("sid=", "sid"), "");
  EXPECT_FALSE(cookie_value("sidx=1; xsid=2", "sid"));
  EXPECT_FALSE(cookie_value("sid", "sid"));
  EXPECT_FALSE(cookie_value("", "sid"));
  EXPECT_FALSE(cookie_value("SID=1", "sid"));
}

TEST(SchemeToken, ExactlyTheSchemeOneSpaceAndATokenWithoutWhiteSpace) {
  EXPECT_EQ(scheme_token("Bearer abc.def", "Bearer"), "abc.def");
  EXPECT_EQ(scheme_token("Bearer a", "Bearer"), "a");
  for (const char* v : {"bearer abc", "BEARER abc", "Bearer   abc", "Bearer ", "Bearerabc", "Bearer a b",
                        "abc.def", "Basic dXNlcjpw", "Bearer a\t"})
    EXPECT_FALSE(scheme_token(v, "Bearer")) << v;
  EXPECT_EQ(scheme_token("Basic dXNlcjpw", ""), "Basic dXNlcjpw");  // no scheme: the value as it is
}

TEST(Hmac, Rfc4231TestCase2) {
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, Rfc4231TestCase1) {
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

// The context is keyed once per thread and kept while the key stays the same: every call gives the MAC of
// its own key, in any order of keys (RFC 4231 case 6 has a key longer than a block; an empty key takes the
// one-shot form).
TEST(Hmac, EachCallUsesItsOwnKey) {
  const std::string long_key(131, '\xaa');
  const std::string case6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(hmac_sha256_hex(long_key, case6),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    EXPECT_EQ(hmac_sha256_hex("", ""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  }
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

class ResolveScope : public ::testing::Test {
 protected:
  ResolveScope() : verifier_(jwt_config()) {}
  static config::JwtConfig jwt_config() {
    config::JwtConfig j;
    j.enabled = true;
    j.algorithm = "HS256";
    j.secret = kJwtSecret;
    j.leeway = std::chrono::seconds(0);
    return j;
  }
  static std::string token(const std::string& claims) { return test::hs256_token(kJwtSecret, claims); }
  static std::string good_token() {
    return token(R"({"sub":"u-1","tenant_id":"t-1","exp":)" + std::to_string(kCallerNow + 60) + "}");
  }
  ScopeIdentity resolve(config::Scope scope, std::map<std::string, std::string> headers,
                        bool with_verifier = true, std::string_view key_secret = kKeySecret) {
    return resolve_scope(scope, id_, with_verifier ? &verifier_ : nullptr, key_secret,
                         lookup(std::move(headers)), util::Query(), kCallerNow);
  }

  config::IdentityConfig id_;
  JwtVerifier verifier_;
};

TEST_F(ResolveScope, PublicIgnoresTheCaller) {
  auto none = resolve(config::Scope::public_, {});
  EXPECT_FALSE(none.bypass);
  EXPECT_EQ(none.key_part, "public");
  EXPECT_FALSE(none.credential);
  // A bad token does not stop a public entry.
  auto bad = resolve(config::Scope::public_, {{"Authorization", "Bearer not-a-jwt"}});
  EXPECT_FALSE(bad.bypass);
  EXPECT_EQ(bad.key_part, "public");
  EXPECT_FALSE(bad.claims);
}

TEST_F(ResolveScope, CredentialKeysOnTheHmacOfTheToken) {
  std::string raw = "opaque-api-token";
  auto s = resolve(config::Scope::credential, {{"Authorization", "Bearer " + raw}});
  EXPECT_FALSE(s.bypass);
  EXPECT_EQ(s.key_part, "cred:" + hmac_sha256_hex(kKeySecret, raw));
  EXPECT_EQ(s.key_part.size(), 5u + 64u);
  EXPECT_EQ(s.key_part.find("opaque-api-token"), std::string::npos);
  // The next request with the same token (its HMAC now from the per-thread cache) keys the same.
  EXPECT_EQ(resolve(config::Scope::credential, {{"Authorization", "Bearer " + raw}}).key_part, s.key_part);
  // Another secret (a reload changed cache.key_secret): another key, never the cached HMAC of the old one.
  auto resecret =
      resolve(config::Scope::credential, {{"Authorization", "Bearer " + raw}}, true, "other-secret");
  EXPECT_EQ(resecret.key_part, "cred:" + hmac_sha256_hex("other-secret", raw));
  EXPECT_EQ(resolve(config::Scope::credential, {{"Authorization", "Bearer " + raw}}).key_part, s.key_part);
  // An unverifiable JWT does not stop the credential scope either.
  EXPECT_FALSE(s.claims);

  auto other = resolve(config::Scope::credential, {{"Authorization", "Bearer another-token"}});
  EXPECT_NE(other.key_part, s.key_part);
  auto other_secret =
      resolve(config::Scope::credential, {{"Authorization", "Bearer " + raw}}, true, "rotated");
  EXPECT_NE(other_secret.key_part, s.key_part);
}

TEST_F(ResolveScope, CredentialWithoutACredentialOrSecretBypasses) {
  auto none = resolve(config::Scope::credential, {});
  EXPECT_TRUE(none.bypass);
  EXPECT_EQ(none.bypass_reason, "no_credential");
  EXPECT_EQ(none.key_part, "");

  auto no_secret = resolve(config::Scope::credential, {{"Authorization", "Bearer x"}}, true, "");
  EXPECT_TRUE(no_secret.bypass);
  EXPECT_EQ(no_secret.bypass_reason, "no_credential");
  EXPECT_EQ(no_secret.key_part, "");
}

TEST_F(ResolveScope, UserAndTenantKeyOnVerifiedClaims) {
  std::string t = good_token();
  auto user = resolve(config::Scope::user, {{"Authorization", "Bearer " + t}});
  EXPECT_FALSE(user.bypass) << user.bypass_reason;
  EXPECT_EQ(user.key_part, "user:t-1:u-1");  // a user entry is per user in a tenant
  ASSERT_TRUE(user.claims);
  EXPECT_EQ(user.claims->tenant, "t-1");
  auto tenant = resolve(config::Scope::tenant, {{"Authorization", "Bearer " + t}});
  EXPECT_FALSE(tenant.bypass) << tenant.bypass_reason;
  EXPECT_EQ(tenant.key_part, "tenant:t-1");
  // A bare token (no "Bearer ") is refused by the backend: no key for it.
  auto bare = resolve(config::Scope::tenant, {{"Authorization", t}});
  EXPECT_TRUE(bare.bypass);
  EXPECT_EQ(bare.bypass_reason, "malformed_credential");
  for (const auto& s : {user, tenant}) {
    EXPECT_EQ(s.key_part.find(t), std::string::npos);
    EXPECT_EQ(s.bypass_reason.find(t), std::string::npos);
  }
}

TEST_F(ResolveScope, UserAndTenantBypassReasons) {
  auto none = resolve(config::Scope::tenant, {});
  EXPECT_TRUE(none.bypass);
  EXPECT_EQ(none.bypass_reason, "no_credential");

  auto forged = resolve(
      config::Scope::tenant,
      {{"Authorization", "Bearer " + test::hs256_token("wrong", R"({"tenant_id":"t","exp":)" +
                                                                    std::to_string(kCallerNow + 60) + "}")}});
  EXPECT_TRUE(forged.bypass);
  EXPECT_EQ(forged.bypass_reason, "jwt_bad_signature");
  EXPECT_EQ(forged.key_part, "");

  auto expired = resolve(
      config::Scope::user,
      {{"Authorization", "Bearer " + token(R"({"sub":"u","exp":)" + std::to_string(kCallerNow - 1) + "}")}});
  EXPECT_TRUE(expired.bypass);
  EXPECT_EQ(expired.bypass_reason, "jwt_expired");

  auto garbage = resolve(config::Scope::user, {{"Authorization", "Bearer garbage"}});
  EXPECT_EQ(garbage.bypass_reason, "jwt_malformed");

  auto no_tenant = resolve(
      config::Scope::tenant,
      {{"Authorization", "Bearer " + token(R"({"sub":"u","exp":)" + std::to_string(kCallerNow + 60) + "}")}});
  EXPECT_TRUE(no_tenant.bypass);
  EXPECT_EQ(no_tenant.bypass_reason, "missing_claim");

  auto unverified = resolve(config::Scope::user, {{"Authorization", "Bearer " + good_token()}}, false);
  EXPECT_TRUE(unverified.bypass);
  EXPECT_EQ(unverified.bypass_reason, "jwt_unverified");
}

TEST_F(ResolveScope, AMalformedCredentialBypassesEveryScopeButPublic) {
  id_.credential = {{Kind::header, "Authorization", "Bearer"}, {Kind::cookie, "or_access"}};
  for (auto scope : {config::Scope::credential, config::Scope::user, config::Scope::tenant}) {
    auto s = resolve(scope,
                     {{"Authorization", "bearer " + good_token()}, {"Cookie", "or_access=" + good_token()}});
    EXPECT_TRUE(s.bypass) << config::to_string(scope);
    EXPECT_EQ(s.bypass_reason, "malformed_credential") << config::to_string(scope);
    EXPECT_EQ(s.key_part, "");
    EXPECT_FALSE(s.claims);
  }
  auto pub = resolve(config::Scope::public_, {{"Authorization", "BEARER x"}});
  EXPECT_FALSE(pub.bypass);
  EXPECT_EQ(pub.key_part, "public");
}

// identity.jwt.authz_claims: user keys follow the permission set, and scope role shares by it.
class ResolveAuthzScope : public ResolveScope {
 protected:
  ResolveAuthzScope() : authz_verifier_(authz_config()) {}
  static config::JwtConfig authz_config() {
    auto c = jwt_config();
    c.authz_claims = {"permissions", "org_roles"};
    return c;
  }
  static std::string member(const std::string& user, const std::string& tenant, const std::string& perms) {
    return token(R"({"sub":")" + user + R"(","tenant_id":")" + tenant + R"(","permissions":)" + perms +
                 R"(,"org_roles":{")" + tenant + R"(":"user"},"exp":)" + std::to_string(kCallerNow + 60) +
                 "}");
  }
  ScopeIdentity as(config::Scope scope, const std::string& t) {
    return resolve_scope(scope, id_, &authz_verifier_, kKeySecret, lookup({{"Authorization", "Bearer " + t}}),
                         util::Query(), kCallerNow);
  }
  JwtVerifier authz_verifier_;
};

TEST_F(ResolveAuthzScope, UserKeysChangeWithThePermissionSet) {
  auto before = as(config::Scope::user, member("u-1", "t-1", R"(["risks:read","risks:update"])"));
  auto demoted = as(config::Scope::user, member("u-1", "t-1", R"(["assets:read"])"));
  ASSERT_FALSE(before.bypass) << before.bypass_reason;
  ASSERT_FALSE(demoted.bypass) << demoted.bypass_reason;
  ASSERT_TRUE(before.claims);
  EXPECT_EQ(before.key_part, "user:t-1:u-1:authz:" + before.claims->authz);
  EXPECT_NE(before.key_part, demoted.key_part) << "a demoted member's new token reads the old role's entries";
  // The same permissions in another order: the same entry.
  EXPECT_EQ(as(config::Scope::user, member("u-1", "t-1", R"(["risks:update","risks:read"])")).key_part,
            before.key_part);
}

TEST_F(ResolveAuthzScope, RoleScopeSharesByTenantAndPermissionSet) {
  auto a = as(config::Scope::role, member("u-1", "t-1", R"(["risks:read"])"));
  auto b = as(config::Scope::role, member("u-2", "t-1", R"(["risks:read"])"));
  auto other_perms = as(config::Scope::role, member("u-3", "t-1", R"(["risks:read","risks:update"])"));
  auto other_tenant = as(config::Scope::role, member("u-1", "t-2", R"(["risks:read"])"));
  for (const auto* s : {&a, &b, &other_perms, &other_tenant}) ASSERT_FALSE(s->bypass) << s->bypass_reason;
  ASSERT_TRUE(a.claims);
  EXPECT_EQ(a.key_part, "role:t-1:" + a.claims->authz);
  EXPECT_EQ(b.key_part, a.key_part) << "two members with one permission set do not share";
  EXPECT_NE(other_perms.key_part, a.key_part);
  EXPECT_NE(other_tenant.key_part, a.key_part) << "a role entry is shared across tenants";

  auto no_tenant = as(config::Scope::role, token(R"({"sub":"u-1","permissions":["risks:read"],"exp":)" +
                                                 std::to_string(kCallerNow + 60) + "}"));
  EXPECT_TRUE(no_tenant.bypass);
  EXPECT_EQ(no_tenant.bypass_reason, "missing_claim");
  // Without authz claims configured there is nothing to share by.
  auto unconfigured = resolve(config::Scope::role, {{"Authorization", "Bearer " + good_token()}});
  EXPECT_TRUE(unconfigured.bypass);
  EXPECT_EQ(unconfigured.bypass_reason, "missing_claim");
}

// openrisk-api.md section 3.2: "`*` always grants; `res:*` grants `res:...`"; anything else only itself.
TEST(Grants, AsTheBackendReadsThePermissionsClaim) {
  using V = std::vector<std::string>;
  EXPECT_TRUE(grants(V{"risks:read"}, "risks:read"));
  EXPECT_TRUE(grants(V{"assets:read", "risks:read"}, "risks:read"));
  EXPECT_TRUE(grants(V{"*"}, "risks:read"));
  EXPECT_TRUE(grants(V{"risks:*"}, "risks:read"));
  EXPECT_TRUE(grants(V{"compliance:*"}, "compliance:controls:read"));
  EXPECT_TRUE(grants(V{"compliance:controls:*"}, "compliance:controls:read"));

  EXPECT_FALSE(grants(V{}, "risks:read"));
  EXPECT_FALSE(grants(V{"risks:update", "assets:read"}, "risks:read"));
  EXPECT_FALSE(grants(V{"risk:*"}, "risks:read")) << "a wildcard's prefix ends at its colon";
  EXPECT_FALSE(grants(V{"risk:read"}, "risks:read"));
  EXPECT_FALSE(grants(V{"risks:read:own"}, "risks:read"));
  EXPECT_FALSE(grants(V{"Risks:Read"}, "risks:read")) << "compared byte for byte";
  EXPECT_FALSE(grants(V{"risks:read "}, "risks:read"));
  EXPECT_FALSE(grants(V{":*"}, ":read"));
  EXPECT_FALSE(grants(V{"risks*"}, "risks:read"));
  EXPECT_FALSE(grants(V{"mitigations:*"}, "risks:read"));
}

// A rule's `permission` under scope tenant: one entry for every member whose token grants it, whatever else
// the token grants; a token that does not grant it never reads or fills that entry.
TEST_F(ResolveAuthzScope, TenantScopeWithAPermissionSharesByTheGrant) {
  auto with = [&](const std::string& t) {
    return resolve_scope(config::Scope::tenant, id_, &authz_verifier_, kKeySecret,
                         lookup({{"Authorization", "Bearer " + t}}), util::Query(), kCallerNow, "risks:read");
  };
  auto viewer = with(member("u-1", "t-1", R"(["risks:read","assets:read"])"));
  auto analyst = with(member("u-2", "t-1", R"(["risks:read","risks:update","mitigations:read"])"));
  auto admin = with(member("u-3", "t-1", R"(["*"])"));
  auto wildcard = with(member("u-4", "t-1", R"(["risks:*"])"));
  for (const auto* s : {&viewer, &analyst, &admin, &wildcard}) ASSERT_FALSE(s->bypass) << s->bypass_reason;
  EXPECT_EQ(viewer.key_part, "tenant:t-1:perm:risks:read");
  EXPECT_EQ(analyst.key_part, viewer.key_part);
  EXPECT_EQ(admin.key_part, viewer.key_part);
  EXPECT_EQ(wildcard.key_part, viewer.key_part);
  EXPECT_EQ(with(member("u-1", "t-2", R"(["risks:read"])")).key_part, "tenant:t-2:perm:risks:read");
  // Without the permission in the key, an entry of the rule would be the tenant's unguarded one.
  EXPECT_EQ(as(config::Scope::tenant, member("u-1", "t-1", R"(["risks:read"])")).key_part, "tenant:t-1");

  for (const std::string perms :
       {R"(["assets:read"])", R"([])", R"(["risk:*"])", R"("risks:read")", R"({"risks:read":true})",
        R"(["risks:read:own",1])",
        // The backend's []string refuses the token for a number; a null it reads
        // as "". Either way, not a list of strings: it grants nothing here.
        R"([1,"risks:read"])", R"([null,"risks:read"])", R"([["*"],"risks:read"])"}) {
    auto s = with(member("u-5", "t-1", perms));
    EXPECT_TRUE(s.bypass) << perms;
    EXPECT_EQ(s.bypass_reason, "no_permission") << perms;
    EXPECT_EQ(s.key_part, "") << perms;
  }
  auto no_claim =
      with(token(R"({"sub":"u-6","tenant_id":"t-1","exp":)" + std::to_string(kCallerNow + 60) + "}"));
  EXPECT_TRUE(no_claim.bypass);
  EXPECT_EQ(no_claim.bypass_reason, "no_permission");
  // Only the configured claim counts.
  auto cfg = authz_config();
  cfg.permissions_claim = "scopes";
  JwtVerifier other_claim(cfg);
  auto other = resolve_scope(config::Scope::tenant, id_, &other_claim, kKeySecret,
                             lookup({{"Authorization", "Bearer " + member("u-1", "t-1", R"(["*"])")}}),
                             util::Query(), kCallerNow, "risks:read");
  EXPECT_TRUE(other.bypass);
  EXPECT_EQ(other.bypass_reason, "no_permission");
}

TEST_F(ResolveScope, CredentialNeverAppearsRawInTheKeyPart) {
  std::string raw = "Bearer " + good_token();
  for (auto scope :
       {config::Scope::public_, config::Scope::credential, config::Scope::user, config::Scope::tenant}) {
    auto s = resolve(scope, {{"Authorization", raw}});
    EXPECT_FALSE(s.bypass) << config::to_string(scope) << ": " << s.bypass_reason;
    EXPECT_FALSE(s.key_part.empty());
    EXPECT_EQ(s.key_part.find(good_token()), std::string::npos) << config::to_string(scope);
  }
}

// docs/rulebook.md section 1.3: scope `user` keys on "verified tenant claim + user claim". One user who is a
// member of two tenants (OpenRisk: /invitations/accept) must not share user-scoped entries across tenants.
TEST_F(ResolveScope, UserScopeKeysOnTenantAndUser) {
  auto in_tenant = [&](const std::string& tenant) {
    auto t = token(R"({"sub":"u-1","tenant_id":")" + tenant + R"(","exp":)" +
                   std::to_string(kCallerNow + 60) + "}");
    return resolve(config::Scope::user, {{"Authorization", "Bearer " + t}});
  };
  auto a = in_tenant("t-1");
  auto b = in_tenant("t-2");
  ASSERT_FALSE(a.bypass) << a.bypass_reason;
  ASSERT_FALSE(b.bypass) << b.bypass_reason;
  EXPECT_NE(a.key_part, b.key_part) << "user u-1 shares user-scoped entries between tenants t-1 and t-2";
}

// docs/rulebook.md section 2.1: with an empty tenant_claim, `scope: user` keys on the user alone.
TEST_F(ResolveScope, UserScopeWithoutATenantClaimKeysOnTheUserAlone) {
  auto cfg = jwt_config();
  cfg.tenant_claim = "";
  JwtVerifier single_tenant(cfg);
  auto headers = lookup({{"Authorization", "Bearer " + good_token()}});
  auto user =
      resolve_scope(config::Scope::user, id_, &single_tenant, kKeySecret, headers, util::Query(), kCallerNow);
  EXPECT_FALSE(user.bypass) << user.bypass_reason;
  EXPECT_EQ(user.key_part, "user:u-1");
  auto tenant = resolve_scope(config::Scope::tenant, id_, &single_tenant, kKeySecret, headers, util::Query(),
                              kCallerNow);
  EXPECT_TRUE(tenant.bypass);
  EXPECT_EQ(tenant.bypass_reason, "missing_claim");
}

TEST_F(ResolveScope, MfaStepTokenDoesNotIdentify) {
  auto t = token(R"({"sub":"u-1","tenant_id":"t-1","type":"MFA_REQUIRED","exp":)" +
                 std::to_string(kCallerNow + 60) + "}");
  auto s = resolve(config::Scope::user, {{"Authorization", "Bearer " + t}});
  EXPECT_TRUE(s.bypass);
  EXPECT_EQ(s.bypass_reason, "jwt_not_access_token");
  EXPECT_EQ(s.key_part, "");
}

TEST_F(ResolveScope, CredentialFromTheQuery) {
  id_.credential = {{Kind::query, "access_token"}};
  const std::string query = "x=1&access_token=" + good_token();
  auto s = resolve_scope(config::Scope::user, id_, &verifier_, kKeySecret, lookup({}), util::Query(query),
                         kCallerNow);
  EXPECT_FALSE(s.bypass) << s.bypass_reason;
  EXPECT_EQ(s.key_part, "user:t-1:u-1");
  ASSERT_TRUE(s.credential);
  EXPECT_EQ(s.credential->describe(), "query access_token");
}

}  // namespace
}  // namespace orc::identity
