// The simulator's data: tenants, users and memberships (fixed after seeding), and per tenant the risks,
// mitigations, sub-actions and assets (mutable, one reader/writer lock and one write counter per tenant).
// Bodies are rendered to JSON at write time and kept, so reads cost little more than a copy.
#pragma once

#include <boost/json/fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace orc::sim {

enum class OrgRole { root, admin, user };
const char* org_role_name(OrgRole r);

struct Membership {
  std::string tenant_id;
  OrgRole role = OrgRole::user;
  std::string business_role;  // analyst | viewer | auditor for `user` members; "" for root/admin
};

struct User {
  std::string id;
  std::string email;
  std::string username;
  std::string full_name;
  std::string password;
  std::string default_tenant;
  std::vector<Membership> memberships;
  const Membership* membership(std::string_view tenant_id) const;
};

struct TenantInfo {
  std::string id;
  std::string name;
  std::string slug;
  std::string plan;
};

// HEAD permission strings of a membership: ["*"] for root/admin, the business-role preset otherwise.
std::vector<std::string> permissions_for(const Membership& m);
// The permission strings of a Phase 5 role name (admin | analyst | viewer).
std::vector<std::string> permissions_for_p5_role(std::string_view role_name);
// The Phase 5 role name a membership maps to.
std::string p5_role_for(const Membership& m);
// `*` grants everything; `res:*` grants every `res:...`.
bool grants(const std::vector<std::string>& held, std::string_view needed);

struct RiskQuery {
  int page = 1;
  int limit = 20;
  std::vector<std::string> statuses;       // upper case; empty = any
  std::vector<std::string> criticalities;  // upper case; empty = any
  std::string search;                      // lower case substring of title or description
  std::string sort_by = "created_at";
  bool descending = true;
};

enum class Outcome { ok, created, deleted, not_found, invalid, conflict };

struct StoreReply {
  Outcome outcome = Outcome::ok;
  std::string body;           // JSON for ok/created; the message for invalid/conflict/not_found
  std::uint64_t version = 0;  // the tenant's write counter as of this read or write
};

// A mitigation write, reported while the tenant's lock is held so listeners see writes in order.
struct MitigationEvent {
  std::string tenant_id;
  std::string type;  // mitigation.created | mitigation.updated | mitigation.deleted
  std::string json;  // the SSE data line
};

struct SeedConfig {
  std::uint32_t seed = 1;
  int tenants = 3;
  int risks_per_tenant = 300;
  int members_per_role = 1;
};

class Store {
 public:
  explicit Store(SeedConfig cfg);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Restores the seeded data (and memberships) and sets every write counter back to 0.
  void reset();
  // PUT /organization/members/:memberId/role: the member's role from now on. Tokens already issued keep
  // their permissions until they expire (as on the backend); tokens issued later (login, refresh,
  // switch-org) carry the new ones. False when `user_id` is no member of the tenant.
  bool set_member_role(std::string_view tid, std::string_view user_id, OrgRole role,
                       std::string_view business_role);
  // A membership as it is now: the seed's, with the role changes since.
  Membership membership_now(const Membership& seeded, std::string_view user_id) const;
  void set_mitigation_listener(std::function<void(const MitigationEvent&)> fn);

  const std::vector<User>& users() const { return users_; }
  const User* user_by_email(std::string_view email) const;
  const User* user_by_id(std::string_view id) const;
  std::vector<TenantInfo> tenants() const;
  const TenantInfo* tenant(std::string_view id) const;
  std::uint64_t version(std::string_view tenant_id) const;
  std::uint64_t total_version() const;

  StoreReply list_risks(std::string_view tid, const RiskQuery& q) const;
  StoreReply get_risk(std::string_view tid, std::string_view id) const;
  StoreReply create_risk(std::string_view tid, const boost::json::object& in, const User& actor,
                         std::int64_t now);
  StoreReply patch_risk(std::string_view tid, std::string_view id, const boost::json::object& in,
                        std::int64_t now);
  StoreReply delete_risk(std::string_view tid, std::string_view id);

  StoreReply list_mitigations(std::string_view tid, std::string_view status, std::string_view risk_id) const;
  StoreReply risk_mitigations(std::string_view tid, std::string_view risk_id) const;
  StoreReply get_mitigation(std::string_view tid, std::string_view id) const;
  StoreReply create_mitigation(std::string_view tid, std::string_view risk_id, const boost::json::object& in,
                               std::int64_t now);
  StoreReply patch_mitigation(std::string_view tid, std::string_view id, const boost::json::object& in,
                              std::int64_t now);
  StoreReply delete_mitigation(std::string_view tid, std::string_view id);
  StoreReply add_sub_action(std::string_view tid, std::string_view mid, const boost::json::object& in,
                            std::int64_t now);
  StoreReply patch_sub_action(std::string_view tid, std::string_view mid, std::string_view aid,
                              const boost::json::object& in, std::int64_t now);
  StoreReply set_sub_action_done(std::string_view tid, std::string_view mid, std::string_view aid, bool done,
                                 std::int64_t now);
  StoreReply delete_sub_action(std::string_view tid, std::string_view mid, std::string_view aid,
                               std::int64_t now);

  StoreReply stats(std::string_view tid) const;
  StoreReply risk_matrix(std::string_view tid) const;
  StoreReply risk_distribution(std::string_view tid) const;
  StoreReply trends(std::string_view tid, std::int64_t now) const;
  StoreReply mitigation_metrics(std::string_view tid) const;

  StoreReply list_assets(std::string_view tid) const;
  StoreReply create_asset(std::string_view tid, const boost::json::object& in, std::int64_t now);

  // How many risks a tenant holds (tests and the export body).
  std::size_t risk_count(std::string_view tid) const;
  // Up to `n` risk ids of a tenant in list order (tests, benchmarks).
  std::vector<std::string> risk_ids(std::string_view tid, std::size_t n) const;

  struct Tenant;  // defined in store.cpp

 private:
  Tenant* find(std::string_view tid) const;
  void seed_tenant(Tenant& t, int index) const;

  SeedConfig cfg_;
  std::vector<User> users_;
  std::vector<std::unique_ptr<Tenant>> tenants_;
  std::unordered_map<std::string, std::size_t> user_by_email_;
  std::unordered_map<std::string, std::size_t> user_by_id_;
  std::function<void(const MitigationEvent&)> listener_;
  struct RoleChanges;  // guarded by its own mutex (store.cpp)
  std::unique_ptr<RoleChanges> role_changes_;
};

}  // namespace orc::sim
