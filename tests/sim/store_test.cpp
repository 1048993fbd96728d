// Unit: seeding is deterministic, tenants are isolated, writes bump the tenant's counter and re-render
// what embeds them, plan progress follows sub-actions, and mitigation writes reach the listener in order.
#include "openrisk_sim/store.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace orc::sim {
namespace {

namespace json = boost::json;

json::value parse(const std::string& s) {
  return json::parse(s);
}

TEST(Store, SeedIsDeterministicAndPerTenant) {
  Store a(SeedConfig{7, 3, 50}), b(SeedConfig{7, 3, 50}), c(SeedConfig{8, 3, 50});
  ASSERT_EQ(a.tenants().size(), 3u);
  auto t0 = a.tenants()[0].id;
  EXPECT_EQ(t0, b.tenants()[0].id);
  EXPECT_NE(t0, c.tenants()[0].id);
  EXPECT_EQ(a.list_risks(t0, RiskQuery{}).body, b.list_risks(t0, RiskQuery{}).body);
  EXPECT_EQ(a.risk_count(t0), 50u);
  auto t1 = a.tenants()[1].id;
  for (auto& id : a.risk_ids(t0, 50)) EXPECT_EQ(a.get_risk(t1, id).outcome, Outcome::not_found);
}

TEST(Store, UsersAndPermissions) {
  Store s(SeedConfig{1, 3, 0});
  const User* admin = s.user_by_email("ADMIN@acme.test");
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(permissions_for(admin->memberships[0]), std::vector<std::string>{"*"});
  const User* viewer = s.user_by_email("viewer@acme.test");
  auto perms = permissions_for(viewer->memberships[0]);
  EXPECT_TRUE(grants(perms, "risks:read"));
  EXPECT_FALSE(grants(perms, "risks:create"));
  EXPECT_TRUE(grants({"risks:*"}, "risks:delete"));
  EXPECT_FALSE(grants({"risks:*"}, "mitigations:read"));
  EXPECT_EQ(s.user_by_email("consultant@sim.test")->memberships.size(), 2u);
}

// --members-per-role: more members per business role, the seed's own users unchanged.
TEST(Store, MoreMembersPerRoleKeepTheSeedsUsers) {
  Store one(SeedConfig{1, 3, 0}), four(SeedConfig{1, 3, 0, 4});
  for (const char* email : {"admin@acme.test", "analyst@globex.test", "consultant@sim.test"})
    EXPECT_EQ(one.user_by_email(email)->id, four.user_by_email(email)->id) << email;
  EXPECT_EQ(one.user_by_email("analyst-2@acme.test"), nullptr);
  const User* extra = four.user_by_email("analyst-4@initech.test");
  ASSERT_NE(extra, nullptr);
  ASSERT_EQ(extra->memberships.size(), 1u);
  EXPECT_EQ(extra->memberships[0].tenant_id, four.tenants()[2].id);
  EXPECT_EQ(permissions_for(extra->memberships[0]),
            permissions_for(four.user_by_email("analyst@initech.test")->memberships[0]));
  EXPECT_NE(four.user_by_email("auditor-2@acme.test"), nullptr);
  EXPECT_EQ(four.user_by_email("admin-2@acme.test"), nullptr);
  EXPECT_EQ(four.users().size(), one.users().size() + 3 * 3 * 3);
}

// PUT /organization/members/:memberId/role: tokens issued afterwards carry the new role.
TEST(Store, MemberRoleChangesApplyToMembershipsFromNowOnUntilReset) {
  Store s(SeedConfig{1, 2, 0});
  const User* analyst = s.user_by_email("analyst@acme.test");
  const Membership& seeded = analyst->memberships[0];
  EXPECT_EQ(s.membership_now(seeded, analyst->id).business_role, "analyst");
  EXPECT_TRUE(s.set_member_role(seeded.tenant_id, analyst->id, OrgRole::user, "auditor"));
  EXPECT_EQ(permissions_for(s.membership_now(seeded, analyst->id)), std::vector<std::string>{"assets:read"});
  EXPECT_FALSE(s.set_member_role(s.tenants()[1].id, analyst->id, OrgRole::user, "viewer"))
      << "not a member of the second tenant";
  s.reset();
  EXPECT_EQ(s.membership_now(seeded, analyst->id).business_role, "analyst");
}

TEST(Store, WritesBumpVersionAndReRender) {
  Store s(SeedConfig{1, 2, 20});
  auto tid = s.tenants()[0].id;
  const User& u = *s.user_by_email("analyst@acme.test");
  StoreReply created =
      s.create_risk(tid, parse(R"({"title":"T","impact":5,"probability":4})").as_object(), u, 1000);
  ASSERT_EQ(created.outcome, Outcome::created);
  EXPECT_EQ(created.version, 1u);
  std::string rid(parse(created.body).at("id").as_string());
  EXPECT_EQ(parse(created.body).at("criticality").as_string(), "CRITICAL");
  EXPECT_EQ(s.version(s.tenants()[1].id), 0u);

  StoreReply bad = s.patch_risk(tid, rid, parse(R"({"impact":0})").as_object(), 1001);
  EXPECT_EQ(bad.outcome, Outcome::invalid);
  EXPECT_EQ(s.version(tid), 1u);  // a rejected write changes nothing

  StoreReply m = s.create_mitigation(
      tid, rid, parse(R"({"title":"M","sub_actions":["a","b","c","d"]})").as_object(), 1002);
  ASSERT_EQ(m.outcome, Outcome::created);
  std::string mid(parse(m.body).at("id").as_string());
  std::string aid(parse(m.body).at("sub_actions").as_array()[0].at("id").as_string());
  StoreReply done = s.set_sub_action_done(tid, mid, aid, true, 1003);
  EXPECT_EQ(parse(done.body).at("progress").as_int64(), 25);
  EXPECT_EQ(parse(done.body).at("status").as_string(), "IN_PROGRESS");
  json::value risk = parse(s.get_risk(tid, rid).body);
  EXPECT_EQ(risk.at("mitigations_count").as_int64(), 1);
  EXPECT_EQ(risk.at("mitigations").as_array()[0].at("progress").as_int64(), 25);
  EXPECT_EQ(s.version(tid), 3u);

  EXPECT_EQ(s.delete_risk(tid, rid).outcome, Outcome::deleted);
  EXPECT_EQ(s.get_mitigation(tid, mid).outcome, Outcome::not_found);
  s.reset();
  EXPECT_EQ(s.version(tid), 0u);
  EXPECT_EQ(s.risk_count(tid), 20u);
}

TEST(Store, ListFiltersSortAndPages) {
  Store s(SeedConfig{1, 1, 120});
  auto tid = s.tenants()[0].id;
  RiskQuery q;
  q.limit = 200;
  q.criticalities = {"LOW"};
  q.sort_by = "score";
  json::value v = parse(s.list_risks(tid, q).body);
  auto& items = v.at("items").as_array();
  EXPECT_EQ(static_cast<std::size_t>(v.at("total").as_int64()), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].at("criticality").as_string(), "LOW");
    if (i) EXPECT_GE(items[i - 1].at("score").as_int64(), items[i].at("score").as_int64());
  }
  RiskQuery page3;
  page3.page = 3;
  page3.limit = 50;
  EXPECT_EQ(parse(s.list_risks(tid, page3).body).at("items").as_array().size(), 20u);
}

TEST(Store, MitigationListenerSeesWritesInOrder) {
  Store s(SeedConfig{1, 1, 5});
  auto tid = s.tenants()[0].id;
  std::vector<std::string> seen;
  s.set_mitigation_listener([&](const MitigationEvent& e) { seen.push_back(e.type); });
  auto rid = s.risk_ids(tid, 1)[0];
  std::string mid(parse(s.create_mitigation(tid, rid, parse(R"({"title":"x"})").as_object(), 1).body)
                      .at("id")
                      .as_string());
  s.patch_mitigation(tid, mid, parse(R"({"title":"y"})").as_object(), 2);
  s.delete_mitigation(tid, mid);
  s.patch_risk(tid, rid, parse(R"({"title":"z"})").as_object(), 3);  // not a mitigation event
  EXPECT_EQ(seen,
            (std::vector<std::string>{"mitigation.created", "mitigation.updated", "mitigation.deleted"}));
}

}  // namespace
}  // namespace orc::sim
