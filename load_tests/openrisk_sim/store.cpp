// Tenants, users and per-tenant risk data. Seeding is a pure function of (seed, tenant index), so two runs
// (and every POST /__sim/reset) produce byte-identical bodies. Writes re-render only what they touch.
#include "openrisk_sim/store.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "openrisk_sim/text.hpp"

namespace orc::sim {

namespace json = boost::json;

namespace {

// The HEAD revision's date; seeded timestamps lie in the 120 days before it.
constexpr std::int64_t kSeedEpoch = 1787270400;  // 2026-08-21T00:00:00Z
constexpr int kAssetsPerTenant = 30;
constexpr std::size_t kMaxSubActions = 100;
constexpr std::size_t kMaxMitigationsPerRisk = 200;
constexpr std::size_t kMaxRisksPerTenant = 50000;
constexpr std::size_t kMaxAssetsPerTenant = 5000;
constexpr std::size_t kMaxText = 8192;

struct Rng {
  std::uint64_t s;
  std::uint64_t next() {  // splitmix64: tiny, fast and good enough for fake data
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  int range(int lo, int hi) {
    return lo + static_cast<int>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  template <class T, std::size_t N>
  const T& pick(const T (&a)[N]) {
    return a[next() % N];
  }
};

std::string uuid(Rng& rng) {
  std::uint64_t a = rng.next(), b = rng.next();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string iso(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string day_of(std::int64_t t) {
  return iso(t).substr(0, 10);
}

const char* kRiskStatuses[] = {"DRAFT", "OPEN", "IN_PROGRESS", "MITIGATED", "ACCEPTED", "CLOSED"};
const char* kMitStatuses[] = {"PLANNED", "IN_PROGRESS", "REVIEW", "DONE"};
const char* kLevels[] = {"LOW", "MEDIUM", "HIGH", "CRITICAL"};
const char* kSources[] = {"manual", "scanner", "cti_auto", "import"};
const char* kWeakness[] = {"Unpatched",     "Misconfigured", "Exposed",      "Outdated",     "Unmonitored",
                           "Weakly scoped", "Unencrypted",   "Shared-admin", "Undocumented", "Legacy"};
const char* kThing[] = {"VPN gateway",  "payroll database", "S3 bucket",  "CI runner",       "SSO tenant",
                        "backup vault", "customer portal",  "DNS zone",   "HR laptop fleet", "Kubernetes API",
                        "email relay",  "ERP connector",    "file share", "VoIP PBX",        "billing API"};
const char* kImpact[] = {
    "allows lateral movement", "leaks customer records",      "enables ransomware spread",
    "breaks audit evidence",   "allows privilege escalation", "stops order processing",
    "exposes API keys",        "violates data residency"};
const char* kSentences[] = {
    "The control owner confirmed the gap during the last quarterly review and no compensating control "
    "exists.",
    "Threat intelligence reports active exploitation of this weakness in the sector over the past months.",
    "Remediation requires a maintenance window agreed with the business owner and the infrastructure team.",
    "An attacker with network access could chain this issue with stolen credentials to reach critical data.",
    "The asset processes personal data, so an incident would trigger a notification to the supervisory "
    "authority.",
    "Monitoring coverage is partial: alerts are produced but nobody is on call outside business hours.",
    "The vendor published a fix, but the deployment pipeline still pins the vulnerable version.",
    "Auditors flagged the finding as a repeat observation and expect a dated action plan.",
    "Business impact analysis rates the service as tier one with a recovery time objective of four hours.",
    "Segmentation between the production and corporate networks is incomplete for this system."};
const char* kActions[] = {"Apply vendor patch",      "Restrict network access", "Enable MFA for admins",
                          "Rotate credentials",      "Add monitoring alert",    "Encrypt data at rest",
                          "Document the procedure",  "Run a restore test",      "Review firewall rules",
                          "Decommission legacy host"};
const char* kAssetTypes[] = {"server", "database", "application", "network", "cloud", "endpoint"};
const char* kCategories[] = {"Infrastructure", "Application", "Compliance", "Third party", "People", "Data"};

std::string level_for(int score) {
  if (score >= 20) return "CRITICAL";
  if (score >= 12) return "HIGH";
  if (score >= 6) return "MEDIUM";
  return "LOW";
}

int level_rank(std::string_view level) {
  for (int i = 0; i < 4; ++i)
    if (level == kLevels[i]) return i;
  return -1;
}

template <std::size_t N>
bool one_of(std::string_view v, const char* (&set)[N]) {
  for (const char* s : set)
    if (v == s) return true;
  return false;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

struct SubAction {
  std::string id;
  std::string title;
  bool done = false;
  std::string completed_at;
};

struct Mitigation {
  std::string id, risk_id, title, description, status, priority, assignee_email, due_date;
  std::string created_at, updated_at;
  std::int64_t cost = 0;
  int progress = 0;
  std::vector<SubAction> sub_actions;
  std::string rendered;
};

struct Risk {
  std::string id, title, description, status, source, category, owner_id, owner_email, treatment;
  std::string created_at, updated_at, created_by;
  std::int64_t created_unix = 0, updated_unix = 0;
  int impact = 3, probability = 3;
  std::vector<std::string> tags;
  std::vector<std::string> mitigation_ids;
  std::vector<std::string> asset_ids;
  std::string rendered;
  int score() const { return impact * probability; }
};

struct Asset {
  std::string id, name, type, criticality, category, owner_email, created_at;
  std::vector<std::string> risk_ids;
  std::string summary;  // JSON without the embedded risks
};

// A sub-action write moves the plan along: all done → REVIEW, some → IN_PROGRESS, none → PLANNED.
void recalculate(Mitigation& m) {
  if (m.sub_actions.empty()) return;
  std::size_t done = 0;
  for (auto& a : m.sub_actions) done += a.done ? 1 : 0;
  m.progress = static_cast<int>(done * 100 / m.sub_actions.size());
  if (m.status == "DONE" && done == m.sub_actions.size()) return;
  m.status = done == m.sub_actions.size() ? "REVIEW" : (done > 0 ? "IN_PROGRESS" : "PLANNED");
}

std::string text_field(const json::object& in, std::string_view key, bool& bad) {
  const json::value* v = in.if_contains(key);
  if (!v || v->is_null()) return {};
  if (!v->is_string() || v->as_string().size() > kMaxText) {
    bad = true;
    return {};
  }
  return std::string(v->as_string());
}

// Absent: `fallback`; present but not an integer in [lo, hi]: -1.
int int_field(const json::object& in, std::string_view key, int lo, int hi, int fallback) {
  const json::value* v = in.if_contains(key);
  if (!v) return fallback;
  if (!v->is_int64() || v->as_int64() < lo || v->as_int64() > hi) return -1;
  return static_cast<int>(v->as_int64());
}

StoreReply invalid(std::string msg, std::uint64_t version) {
  return {Outcome::invalid, std::move(msg), version};
}
StoreReply not_found(std::string msg, std::uint64_t version) {
  return {Outcome::not_found, std::move(msg), version};
}

std::string splice(std::string_view object_json, std::string_view key, const std::string& array_body) {
  std::string out(object_json.substr(0, object_json.size() - 1));
  out += ",\"";
  out += key;
  out += "\":[";
  out += array_body;
  out += "]}";
  return out;
}

}  // namespace

struct Store::Tenant {
  TenantInfo info;
  int index = 0;
  std::vector<const User*> members;
  mutable std::shared_mutex mu;
  std::uint64_t version = 0;
  std::uint64_t id_counter = 0;
  std::unordered_map<std::string, Risk> risks;
  std::unordered_map<std::string, Mitigation> mitigations;
  std::vector<Asset> assets;
  std::unordered_map<std::string, std::size_t> asset_index;
  // Aggregates rendered at a given version; readers share the tenant lock, so this has its own.
  mutable std::mutex agg_mu;
  mutable std::unordered_map<std::string, std::pair<std::uint64_t, std::string>> agg;

  std::string new_id(std::uint32_t seed) {
    Rng rng{(static_cast<std::uint64_t>(seed) << 32) ^ (static_cast<std::uint64_t>(index) << 24) ^
            (0xabcdef0000000000ULL + ++id_counter)};
    return uuid(rng);
  }

  void render_mitigation(Mitigation& m) const {
    json::array subs;
    int pos = 0;
    for (auto& a : m.sub_actions) {
      subs.push_back(
          json::object{{"id", a.id},
                       {"mitigation_id", m.id},
                       {"title", a.title},
                       {"completed", a.done},
                       {"completed_at", a.completed_at.empty() ? json::value() : json::value(a.completed_at)},
                       {"position", pos++},
                       {"blocked_by", json::array{}}});
    }
    json::object o{{"id", m.id},
                   {"tenant_id", info.id},
                   {"risk_id", m.risk_id},
                   {"title", m.title},
                   {"description", m.description},
                   {"status", m.status},
                   {"priority", m.priority},
                   {"progress", m.progress},
                   {"assignee_email", m.assignee_email},
                   {"due_date", m.due_date},
                   {"cost", m.cost},
                   {"mitigation_time_days", 15},
                   {"effectiveness", 0.6},
                   {"validated_at", nullptr},
                   {"reminder_d7_sent_at", nullptr},
                   {"reminder_d1_sent_at", nullptr},
                   {"created_at", m.created_at},
                   {"updated_at", m.updated_at},
                   {"sub_actions", std::move(subs)}};
    m.rendered = json::serialize(o);
  }

  void render_asset(Asset& a) const {
    json::object o{{"id", a.id},
                   {"tenant_id", info.id},
                   {"name", a.name},
                   {"type", a.type},
                   {"category", a.category},
                   {"criticality", a.criticality},
                   {"owner_email", a.owner_email},
                   {"environment", "production"},
                   {"attributes", json::object{{"managed", true}}},
                   {"created_at", a.created_at},
                   {"updated_at", a.created_at}};
    a.summary = json::serialize(o);
  }

  void render_risk(Risk& r) const {
    int score = r.score();
    std::string level = level_for(score);
    json::array tags;
    for (auto& t : r.tags) tags.push_back(json::value(t));
    std::int64_t sle = 10000 * r.impact;  // whole currency units, as the backend stores them
    double aro = r.probability / 5.0;
    json::object o{{"id", r.id},
                   {"tenant_id", info.id},
                   {"title", r.title},
                   {"description", r.description},
                   {"impact", r.impact},
                   {"probability", r.probability},
                   {"score", score},
                   {"inherent_score", score},
                   {"residual_score", std::max(1, score - static_cast<int>(r.mitigation_ids.size()) * 2)},
                   {"criticality", level},
                   {"level", level},
                   {"status", r.status},
                   {"phase", r.status},
                   {"source", r.source},
                   {"treatment", r.treatment},
                   {"tags", std::move(tags)},
                   {"owner_id", r.owner_id},
                   {"owner_email", r.owner_email},
                   {"assigned_to", r.owner_id},
                   {"assignee_email", r.owner_email},
                   {"reviewer_id", nullptr},
                   {"reviewer_email", nullptr},
                   {"category", json::object{{"name", r.category}, {"color", "#4f46e5"}}},
                   {"framework", "ISO27001"},
                   {"frameworks", json::array{"ISO27001", "NIST-CSF"}},
                   {"control_mappings", json::array{}},
                   {"custom_fields", json::object{}},
                   {"financial", json::object{{"currency", "USD"},
                                              {"single_loss_expectancy", sle},
                                              {"annual_rate_of_occurrence", aro},
                                              {"annual_loss_expectancy",
                                               static_cast<std::int64_t>(static_cast<double>(sle) * aro)}}},
                   {"smart_score", score * 4},
                   {"smart_level", level},
                   {"smart_factors", json::object{{"likelihood", r.probability},
                                                  {"impact", r.impact},
                                                  {"exposure", 0.5},
                                                  {"velocity", 0.3},
                                                  {"control_effectiveness", 0.4}}},
                   {"review_frequency_days", 90},
                   {"last_reviewed_at", nullptr},
                   {"next_review_at", nullptr},
                   {"created_by", r.created_by},
                   {"created_at", r.created_at},
                   {"updated_at", r.updated_at},
                   {"deleted_at", nullptr},
                   {"mitigations_count", r.mitigation_ids.size()}};
    std::string mits, assets_json;
    for (auto& mid : r.mitigation_ids) {
      if (!mits.empty()) mits += ',';
      mits += mitigations.at(mid).rendered;
    }
    for (auto& aid : r.asset_ids) {
      auto it = asset_index.find(aid);
      if (it == asset_index.end()) continue;
      if (!assets_json.empty()) assets_json += ',';
      assets_json += assets[it->second].summary;
    }
    r.rendered = splice(splice(json::serialize(o), "mitigations", mits), "assets", assets_json);
  }

  void publish(const std::function<void(const MitigationEvent&)>& fn, const char* type,
               const Mitigation& m) const {
    if (!fn) return;
    json::object data{{"type", type},         {"tenant_id", info.id}, {"mitigation_id", m.id},
                      {"risk_id", m.risk_id}, {"status", m.status},   {"progress", m.progress},
                      {"version", version}};
    fn(MitigationEvent{info.id, type, json::serialize(data)});
  }
};

const char* org_role_name(OrgRole r) {
  switch (r) {
    case OrgRole::root:
      return "root";
    case OrgRole::admin:
      return "admin";
    case OrgRole::user:
      return "user";
  }
  return "user";
}

const Membership* User::membership(std::string_view tenant_id) const {
  for (auto& m : memberships)
    if (m.tenant_id == tenant_id) return &m;
  return nullptr;
}

std::vector<std::string> permissions_for(const Membership& m) {
  if (m.role != OrgRole::user) return {"*"};
  if (m.business_role == "analyst")
    return {"risks:read",         "risks:create",       "risks:update", "mitigations:read",
            "mitigations:create", "mitigations:update", "assets:read",  "assets:create"};
  if (m.business_role == "viewer") return {"risks:read", "mitigations:read", "assets:read"};
  if (m.business_role == "auditor") return {"assets:read"};
  return {};
}

std::vector<std::string> permissions_for_p5_role(std::string_view role_name) {
  Membership m;
  if (role_name == "admin")
    m.role = OrgRole::admin;
  else
    m.business_role = std::string(role_name);
  return permissions_for(m);
}

std::string p5_role_for(const Membership& m) {
  if (m.role != OrgRole::user) return "admin";
  return m.business_role == "analyst" ? "analyst" : "viewer";
}

bool grants(const std::vector<std::string>& held, std::string_view needed) {
  for (auto& h : held) {
    if (h == "*" || h == needed) return true;
    if (h.size() >= 2 && h.ends_with(":*") && needed.starts_with(std::string_view(h).substr(0, h.size() - 1)))
      return true;
  }
  return false;
}

struct Store::RoleChanges {
  mutable std::mutex mu;
  std::unordered_map<std::string, Membership> by_member;  // tenant id + "/" + user id
};

Store::Store(SeedConfig cfg) : cfg_(cfg), role_changes_(std::make_unique<RoleChanges>()) {
  static const char* kNames[][2] = {
      {"Acme Corp", "acme"}, {"Globex Industries", "globex"}, {"Initech", "initech"}};
  static const char* kPlans[] = {"enterprise", "professional", "starter"};
  Rng rng{0x5157000000000000ULL ^ cfg_.seed};
  for (int i = 0; i < cfg_.tenants; ++i) {
    auto t = std::make_unique<Tenant>();
    t->index = i;
    t->info.id = uuid(rng);
    t->info.name = i < 3 ? kNames[i][0] : "Tenant " + std::to_string(i + 1);
    t->info.slug = i < 3 ? kNames[i][1] : "tenant" + std::to_string(i + 1);
    t->info.plan = kPlans[i % 3];
    tenants_.push_back(std::move(t));
  }
  auto add_user = [&](std::string email, std::string full_name, std::vector<Membership> ms) {
    User u;
    u.id = uuid(rng);
    u.email = std::move(email);
    u.username = u.email.substr(0, u.email.find('@'));
    u.full_name = std::move(full_name);
    u.password = "sim-password";
    u.default_tenant = ms.front().tenant_id;
    u.memberships = std::move(ms);
    users_.push_back(std::move(u));
  };
  for (auto& t : tenants_) {
    const std::string& s = t->info.slug;
    const std::string& id = t->info.id;
    add_user("admin@" + s + ".test", t->info.name + " Admin", {{id, OrgRole::admin, ""}});
    add_user("analyst@" + s + ".test", t->info.name + " Analyst", {{id, OrgRole::user, "analyst"}});
    add_user("viewer@" + s + ".test", t->info.name + " Viewer", {{id, OrgRole::user, "viewer"}});
    add_user("auditor@" + s + ".test", t->info.name + " Auditor", {{id, OrgRole::user, "auditor"}});
  }
  // One consultant in two organizations with different roles: the switch-org case.
  if (tenants_.size() >= 2)
    add_user("consultant@sim.test", "Casey Consultant",
             {{tenants_[0]->info.id, OrgRole::user, "analyst"}, {tenants_[1]->info.id, OrgRole::admin, ""}});
  // More members with the same business roles (after the users above, whose ids stay those of the seed).
  for (int k = 2; k <= cfg_.members_per_role; ++k)
    for (auto& t : tenants_)
      for (const char* role : {"analyst", "viewer", "auditor"})
        add_user(std::string(role) + "-" + std::to_string(k) + "@" + t->info.slug + ".test",
                 t->info.name + " " + role + " " + std::to_string(k), {{t->info.id, OrgRole::user, role}});
  for (std::size_t i = 0; i < users_.size(); ++i) {
    user_by_email_[users_[i].email] = i;
    user_by_id_[users_[i].id] = i;
  }
  for (auto& t : tenants_) {
    for (auto& u : users_)
      if (u.membership(t->info.id)) t->members.push_back(&u);
    seed_tenant(*t, t->index);
  }
}

Store::~Store() = default;

void Store::seed_tenant(Tenant& t, int index) const {
  t.version = 0;
  t.id_counter = 0;
  t.risks.clear();
  t.mitigations.clear();
  t.assets.clear();
  t.asset_index.clear();
  {
    std::lock_guard lock(t.agg_mu);
    t.agg.clear();
  }
  Rng rng{(static_cast<std::uint64_t>(cfg_.seed) << 32) ^
          (0x1000003ULL * static_cast<std::uint64_t>(index + 1))};
  auto member_email = [&](std::size_t k) {
    return t.members.empty() ? std::string() : t.members[k % t.members.size()]->email;
  };
  for (int a = 0; a < kAssetsPerTenant; ++a) {
    Asset as;
    as.id = uuid(rng);
    as.type = rng.pick(kAssetTypes);
    as.name = std::string(rng.pick(kThing)) + " " + std::to_string(a + 1);
    as.criticality = kLevels[rng.range(0, 3)];
    as.category = as.type;
    as.owner_email = member_email(static_cast<std::size_t>(a));
    as.created_at = iso(kSeedEpoch - 150 * 86400 + a * 3600);
    t.render_asset(as);
    t.asset_index[as.id] = t.assets.size();
    t.assets.push_back(std::move(as));
  }
  for (int i = 0; i < cfg_.risks_per_tenant; ++i) {
    Risk r;
    r.id = uuid(rng);
    r.title = std::string(rng.pick(kWeakness)) + " " + rng.pick(kThing) + " " + rng.pick(kImpact);
    for (int s = 0, n = rng.range(3, 5); s < n; ++s) {
      if (!r.description.empty()) r.description += ' ';
      r.description += rng.pick(kSentences);
    }
    r.impact = rng.range(1, 5);
    r.probability = rng.range(1, 5);
    r.status = rng.pick(kRiskStatuses);
    r.source = rng.pick(kSources);
    r.category = rng.pick(kCategories);
    r.treatment = "mitigate";
    r.tags = {rng.pick(kCategories), "q" + std::to_string(rng.range(1, 4))};
    const User* owner = t.members.empty() ? nullptr : t.members[rng.next() % t.members.size()];
    r.owner_id = owner ? owner->id : "";
    r.owner_email = owner ? owner->email : "";
    r.created_by = r.owner_id;
    // Spread over 120 days, one risk per ~distinct timestamp so the default sort is total.
    r.created_unix = kSeedEpoch - 120 * 86400 +
                     static_cast<std::int64_t>(i) * (120 * 86400 / std::max(1, cfg_.risks_per_tenant)) +
                     rng.range(0, 600);
    r.updated_unix = r.created_unix + rng.range(0, 5 * 86400);
    r.created_at = iso(r.created_unix);
    r.updated_at = iso(r.updated_unix);
    const Asset& linked = t.assets[static_cast<std::size_t>(i) % t.assets.size()];
    r.asset_ids.push_back(linked.id);
    t.assets[static_cast<std::size_t>(i) % t.assets.size()].risk_ids.push_back(r.id);
    for (int k = 0, n = rng.range(0, 3); k < n; ++k) {
      Mitigation m;
      m.id = uuid(rng);
      m.risk_id = r.id;
      m.title = rng.pick(kActions);
      m.description = std::string(rng.pick(kSentences)) + " " + rng.pick(kSentences);
      m.priority = kLevels[rng.range(0, 3)];
      m.status = "PLANNED";
      m.assignee_email = member_email(rng.next());
      m.cost = rng.range(1, 50) * 500;
      m.due_date = day_of(kSeedEpoch + rng.range(1, 90) * 86400);
      m.created_at = iso(r.created_unix + 3600);
      m.updated_at = m.created_at;
      for (int s = 0, ns = rng.range(0, 4); s < ns; ++s) {
        SubAction sa;
        sa.id = uuid(rng);
        sa.title = rng.pick(kActions);
        sa.done = rng.range(0, 2) == 0;
        if (sa.done) sa.completed_at = m.created_at;
        m.sub_actions.push_back(std::move(sa));
      }
      recalculate(m);
      t.render_mitigation(m);
      r.mitigation_ids.push_back(m.id);
      t.mitigations.emplace(m.id, std::move(m));
    }
    t.render_risk(r);
    t.risks.emplace(r.id, std::move(r));
  }
}

void Store::reset() {
  for (auto& t : tenants_) {
    std::unique_lock lock(t->mu);
    seed_tenant(*t, t->index);
  }
  std::lock_guard lock(role_changes_->mu);
  role_changes_->by_member.clear();
}

bool Store::set_member_role(std::string_view tid, std::string_view user_id, OrgRole role,
                            std::string_view business_role) {
  const User* u = user_by_id(user_id);
  if (!u || !u->membership(tid)) return false;
  Membership m{std::string(tid), role, role == OrgRole::user ? std::string(business_role) : std::string()};
  std::lock_guard lock(role_changes_->mu);
  role_changes_->by_member[std::string(tid) + "/" + std::string(user_id)] = std::move(m);
  return true;
}

Membership Store::membership_now(const Membership& seeded, std::string_view user_id) const {
  std::lock_guard lock(role_changes_->mu);
  auto it = role_changes_->by_member.find(seeded.tenant_id + "/" + std::string(user_id));
  return it == role_changes_->by_member.end() ? seeded : it->second;
}

void Store::set_mitigation_listener(std::function<void(const MitigationEvent&)> fn) {
  listener_ = std::move(fn);
}

const User* Store::user_by_email(std::string_view email) const {
  auto it = user_by_email_.find(to_lower(email));
  return it == user_by_email_.end() ? nullptr : &users_[it->second];
}

const User* Store::user_by_id(std::string_view id) const {
  auto it = user_by_id_.find(std::string(id));
  return it == user_by_id_.end() ? nullptr : &users_[it->second];
}

std::vector<TenantInfo> Store::tenants() const {
  std::vector<TenantInfo> out;
  for (auto& t : tenants_) out.push_back(t->info);
  return out;
}

Store::Tenant* Store::find(std::string_view tid) const {
  for (auto& t : tenants_)  // a handful of tenants: a scan beats hashing
    if (t->info.id == tid) return t.get();
  return nullptr;
}

const TenantInfo* Store::tenant(std::string_view id) const {
  Tenant* t = find(id);
  return t ? &t->info : nullptr;
}

std::uint64_t Store::version(std::string_view tid) const {
  Tenant* t = find(tid);
  if (!t) return 0;
  std::shared_lock lock(t->mu);
  return t->version;
}

std::uint64_t Store::total_version() const {
  std::uint64_t sum = 0;
  for (auto& t : tenants_) {
    std::shared_lock lock(t->mu);
    sum += t->version;
  }
  return sum;
}

std::size_t Store::risk_count(std::string_view tid) const {
  Tenant* t = find(tid);
  if (!t) return 0;
  std::shared_lock lock(t->mu);
  return t->risks.size();
}

// ---- risks ----

namespace {

std::vector<const Risk*> sorted_risks(const std::unordered_map<std::string, Risk>& risks,
                                      const RiskQuery& q) {
  std::vector<const Risk*> rows;
  rows.reserve(risks.size());
  for (auto& [id, r] : risks) {
    if (!q.statuses.empty() && std::find(q.statuses.begin(), q.statuses.end(), r.status) == q.statuses.end())
      continue;
    if (!q.criticalities.empty() && std::find(q.criticalities.begin(), q.criticalities.end(),
                                              level_for(r.score())) == q.criticalities.end())
      continue;
    if (!q.search.empty() && to_lower(r.title).find(q.search) == std::string::npos &&
        to_lower(r.description).find(q.search) == std::string::npos)
      continue;
    rows.push_back(&r);
  }
  std::string key = q.sort_by;
  bool desc = q.descending;
  if (key == "newest") key = "created_at", desc = true;
  if (key == "oldest") key = "created_at", desc = false;
  if (key == "updated") key = "updated_at", desc = true;
  // Resolve the key once: the comparator runs n log n times.
  enum class Key { created, score, title, updated, impact, probability, status, source } k = Key::created;
  if (key == "score" || key == "criticality") k = Key::score;
  if (key == "title" || key == "name") k = Key::title;
  if (key == "updated_at") k = Key::updated;
  if (key == "impact") k = Key::impact;
  if (key == "probability") k = Key::probability;
  if (key == "status") k = Key::status;
  if (key == "source") k = Key::source;
  auto cmp_key = [k](const Risk* a, const Risk* b) -> int {
    auto three = [](const auto& x, const auto& y) { return x < y ? -1 : (y < x ? 1 : 0); };
    switch (k) {
      case Key::score:
        return three(a->score(), b->score());
      case Key::title:
        return three(a->title, b->title);
      case Key::updated:
        return three(a->updated_unix, b->updated_unix);
      case Key::impact:
        return three(a->impact, b->impact);
      case Key::probability:
        return three(a->probability, b->probability);
      case Key::status:
        return three(a->status, b->status);
      case Key::source:
        return three(a->source, b->source);
      case Key::created:
        break;
    }
    return three(a->created_unix, b->created_unix);
  };
  std::sort(rows.begin(), rows.end(), [&](const Risk* a, const Risk* b) {
    int c = cmp_key(a, b);
    if (c == 0) return a->id < b->id;  // a total order keeps pages stable
    return desc ? c > 0 : c < 0;
  });
  return rows;
}

}  // namespace

StoreReply Store::list_risks(std::string_view tid, const RiskQuery& q) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  auto rows = sorted_risks(t->risks, q);
  std::string body = "{\"items\":[";
  std::size_t from = static_cast<std::size_t>(std::max(0, q.page - 1)) * static_cast<std::size_t>(q.limit);
  for (std::size_t i = from; i < rows.size() && i < from + static_cast<std::size_t>(q.limit); ++i) {
    if (i != from) body += ',';
    body += rows[i]->rendered;
  }
  body += "],\"total\":" + std::to_string(rows.size()) + "}";
  return {Outcome::ok, std::move(body), t->version};
}

std::vector<std::string> Store::risk_ids(std::string_view tid, std::size_t n) const {
  std::vector<std::string> out;
  Tenant* t = find(tid);
  if (!t) return out;
  std::shared_lock lock(t->mu);
  for (auto* r : sorted_risks(t->risks, RiskQuery{})) {
    if (out.size() >= n) break;
    out.push_back(r->id);
  }
  return out;
}

StoreReply Store::get_risk(std::string_view tid, std::string_view id) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  auto it = t->risks.find(std::string(id));
  if (it == t->risks.end()) return not_found("Risk not found", t->version);
  return {Outcome::ok, it->second.rendered, t->version};
}

namespace {

// Applies the writable risk fields of `in`; empty string on success, else the validation message.
std::string apply_risk_fields(Risk& r, const json::object& in, bool creating) {
  bool bad = false;
  if (in.contains("title") || creating) {
    std::string title = text_field(in, "title", bad);
    if (bad || title.empty() || title.size() > 255) return "title is required (1-255 characters)";
    r.title = std::move(title);
  }
  if (in.contains("description")) {
    r.description = text_field(in, "description", bad);
    if (bad) return "description must be a string";
  }
  int impact = int_field(in, "impact", 1, 5, r.impact);
  int probability = int_field(in, "probability", 1, 5, r.probability);
  if (impact < 0 || probability < 0) return "impact and probability must be integers from 1 to 5";
  r.impact = impact;
  r.probability = probability;
  if (in.contains("status")) {
    std::string status = upper(text_field(in, "status", bad));
    if (bad || !one_of(status, kRiskStatuses)) return "invalid status";
    r.status = std::move(status);
  }
  if (in.contains("source")) {
    r.source = text_field(in, "source", bad);
    if (bad) return "source must be a string";
  }
  if (in.contains("category")) {
    r.category = text_field(in, "category", bad);
    if (bad) return "category must be a string";
  }
  if (const json::value* tags = in.if_contains("tags")) {
    if (!tags->is_array() || tags->as_array().size() > 50) return "tags must be an array of strings";
    r.tags.clear();
    for (auto& v : tags->as_array()) {
      if (!v.is_string()) return "tags must be an array of strings";
      r.tags.emplace_back(v.as_string());
    }
  }
  return {};
}

}  // namespace

StoreReply Store::create_risk(std::string_view tid, const json::object& in, const User& actor,
                              std::int64_t now) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  if (t->risks.size() >= kMaxRisksPerTenant) return {Outcome::conflict, "risk limit reached", t->version};
  Risk r;
  r.status = "OPEN";
  r.source = "manual";
  r.category = "Infrastructure";
  r.treatment = "mitigate";
  if (auto msg = apply_risk_fields(r, in, true); !msg.empty()) return invalid(msg, t->version);
  if (const json::value* ids = in.if_contains("asset_ids")) {
    if (!ids->is_array()) return invalid("asset_ids must be an array", t->version);
    for (auto& v : ids->as_array()) {
      if (!v.is_string() || !t->asset_index.contains(std::string(v.as_string())))
        return invalid("unknown asset id", t->version);
      r.asset_ids.emplace_back(v.as_string());
    }
  }
  r.id = t->new_id(cfg_.seed);
  r.owner_id = actor.id;
  r.owner_email = actor.email;
  r.created_by = actor.id;
  r.created_unix = r.updated_unix = now;
  r.created_at = r.updated_at = iso(now);
  for (auto& aid : r.asset_ids) t->assets[t->asset_index[aid]].risk_ids.push_back(r.id);
  ++t->version;
  t->render_risk(r);
  std::string body = r.rendered;
  t->risks.emplace(r.id, std::move(r));
  return {Outcome::created, std::move(body), t->version};
}

StoreReply Store::patch_risk(std::string_view tid, std::string_view id, const json::object& in,
                             std::int64_t now) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  auto it = t->risks.find(std::string(id));
  if (it == t->risks.end()) return not_found("Risk not found", t->version);
  Risk updated = it->second;  // validate on a copy so a bad field leaves the risk untouched
  if (auto msg = apply_risk_fields(updated, in, false); !msg.empty()) return invalid(msg, t->version);
  updated.updated_unix = now;
  updated.updated_at = iso(now);
  ++t->version;
  t->render_risk(updated);
  it->second = std::move(updated);
  return {Outcome::ok, it->second.rendered, t->version};
}

StoreReply Store::delete_risk(std::string_view tid, std::string_view id) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  auto it = t->risks.find(std::string(id));
  if (it == t->risks.end()) return not_found("Risk not found", t->version);
  ++t->version;
  for (auto& mid : it->second.mitigation_ids) {
    auto m = t->mitigations.find(mid);
    if (m == t->mitigations.end()) continue;
    t->publish(listener_, "mitigation.deleted", m->second);
    t->mitigations.erase(m);
  }
  for (auto& aid : it->second.asset_ids) {
    auto& ids = t->assets[t->asset_index[aid]].risk_ids;
    ids.erase(std::remove(ids.begin(), ids.end(), it->second.id), ids.end());
  }
  t->risks.erase(it);
  return {Outcome::deleted, {}, t->version};
}

// ---- mitigations ----

StoreReply Store::list_mitigations(std::string_view tid, std::string_view status,
                                   std::string_view risk_id) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  std::vector<const Mitigation*> rows;
  for (auto& [id, m] : t->mitigations) {
    if (!status.empty() && m.status != upper(status)) continue;
    if (!risk_id.empty() && m.risk_id != risk_id) continue;
    rows.push_back(&m);
  }
  std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) {
    return a->created_at != b->created_at ? a->created_at > b->created_at : a->id < b->id;
  });
  std::string items;
  for (auto* m : rows) {
    if (!items.empty()) items += ',';
    items += m->rendered;
  }
  return {Outcome::ok, "{\"items\":[" + items + "],\"total\":" + std::to_string(rows.size()) + "}",
          t->version};
}

StoreReply Store::risk_mitigations(std::string_view tid, std::string_view risk_id) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  auto it = t->risks.find(std::string(risk_id));
  if (it == t->risks.end()) return not_found("Risk not found", t->version);
  std::string body = "[";
  for (auto& mid : it->second.mitigation_ids) {
    if (body.size() > 1) body += ',';
    body += t->mitigations.at(mid).rendered;
  }
  body += ']';
  return {Outcome::ok, std::move(body), t->version};
}

StoreReply Store::get_mitigation(std::string_view tid, std::string_view id) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  auto it = t->mitigations.find(std::string(id));
  if (it == t->mitigations.end()) return not_found("Mitigation not found", t->version);
  return {Outcome::ok, it->second.rendered, t->version};
}

namespace {

std::string apply_mitigation_fields(Mitigation& m, const json::object& in, bool creating) {
  bool bad = false;
  if (in.contains("title") || creating) {
    std::string title = text_field(in, "title", bad);
    if (bad || title.empty() || title.size() > 255) return "title is required (1-255 characters)";
    m.title = std::move(title);
  }
  if (in.contains("description")) {
    m.description = text_field(in, "description", bad);
    if (bad) return "description must be a string";
  }
  if (in.contains("priority")) {
    std::string p = upper(text_field(in, "priority", bad));
    if (bad || level_rank(p) < 0) return "invalid priority";
    m.priority = std::move(p);
  }
  if (in.contains("status")) {
    std::string s = upper(text_field(in, "status", bad));
    if (bad || !one_of(s, kMitStatuses)) return "invalid status";
    m.status = std::move(s);
  }
  if (in.contains("due_date")) {
    m.due_date = text_field(in, "due_date", bad);
    if (bad) return "due_date must be a string";
  }
  if (in.contains("assignee_email")) {
    m.assignee_email = text_field(in, "assignee_email", bad);
    if (bad) return "assignee_email must be a string";
  }
  return {};
}

}  // namespace

StoreReply Store::create_mitigation(std::string_view tid, std::string_view risk_id, const json::object& in,
                                    std::int64_t now) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  auto rit = t->risks.find(std::string(risk_id));
  if (rit == t->risks.end()) return not_found("Risk not found", t->version);
  if (rit->second.mitigation_ids.size() >= kMaxMitigationsPerRisk)
    return {Outcome::conflict, "mitigation limit reached", t->version};
  Mitigation m;
  m.priority = "MEDIUM";
  m.status = "PLANNED";
  if (auto msg = apply_mitigation_fields(m, in, true); !msg.empty()) return invalid(msg, t->version);
  m.id = t->new_id(cfg_.seed);
  m.risk_id = rit->second.id;
  m.created_at = m.updated_at = iso(now);
  if (const json::value* subs = in.if_contains("sub_actions")) {
    if (!subs->is_array() || subs->as_array().size() > kMaxSubActions)
      return invalid("sub_actions must be an array", t->version);
    for (auto& v : subs->as_array()) {
      SubAction a;
      if (v.is_string())
        a.title = std::string(v.as_string());
      else if (v.is_object() && v.as_object().if_contains("title") && v.as_object().at("title").is_string())
        a.title = std::string(v.as_object().at("title").as_string());
      else
        return invalid("each sub-action needs a title", t->version);
      a.id = t->new_id(cfg_.seed);
      m.sub_actions.push_back(std::move(a));
    }
  }
  recalculate(m);
  ++t->version;
  t->render_mitigation(m);
  rit->second.mitigation_ids.push_back(m.id);
  auto& stored = t->mitigations.emplace(m.id, std::move(m)).first->second;
  t->render_risk(rit->second);
  t->publish(listener_, "mitigation.created", stored);
  return {Outcome::created, stored.rendered, t->version};
}

namespace {

// Shared tail of every plan write: bump the counter, re-render the plan and its risk, tell listeners.
template <class Tenant>
StoreReply commit_mitigation(Tenant& t, Mitigation& m, std::int64_t now, const char* type,
                             const std::function<void(const MitigationEvent&)>& fn, Outcome outcome) {
  m.updated_at = iso(now);
  ++t.version;
  t.render_mitigation(m);
  auto rit = t.risks.find(m.risk_id);
  if (rit != t.risks.end()) t.render_risk(rit->second);
  t.publish(fn, type, m);
  return {outcome, m.rendered, t.version};
}

}  // namespace

StoreReply Store::patch_mitigation(std::string_view tid, std::string_view id, const json::object& in,
                                   std::int64_t now) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  auto it = t->mitigations.find(std::string(id));
  if (it == t->mitigations.end()) return not_found("Mitigation not found", t->version);
  Mitigation updated = it->second;
  if (auto msg = apply_mitigation_fields(updated, in, false); !msg.empty()) return invalid(msg, t->version);
  if (!in.contains("status")) recalculate(updated);
  it->second = std::move(updated);
  return commit_mitigation(*t, it->second, now, "mitigation.updated", listener_, Outcome::ok);
}

StoreReply Store::delete_mitigation(std::string_view tid, std::string_view id) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  auto it = t->mitigations.find(std::string(id));
  if (it == t->mitigations.end()) return not_found("Mitigation not found", t->version);
  ++t->version;
  auto rit = t->risks.find(it->second.risk_id);
  if (rit != t->risks.end()) {
    auto& ids = rit->second.mitigation_ids;
    ids.erase(std::remove(ids.begin(), ids.end(), it->second.id), ids.end());
  }
  t->publish(listener_, "mitigation.deleted", it->second);
  t->mitigations.erase(it);
  if (rit != t->risks.end()) t->render_risk(rit->second);
  return {Outcome::deleted, {}, t->version};
}

StoreReply Store::add_sub_action(std::string_view tid, std::string_view mid, const json::object& in,
                                 std::int64_t now) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  auto it = t->mitigations.find(std::string(mid));
  if (it == t->mitigations.end()) return not_found("Mitigation not found", t->version);
  if (it->second.sub_actions.size() >= kMaxSubActions)
    return {Outcome::conflict, "too many sub-actions", t->version};
  bool bad = false;
  SubAction a;
  a.title = text_field(in, "title", bad);
  if (bad || a.title.empty()) return invalid("title is required", t->version);
  a.id = t->new_id(cfg_.seed);
  it->second.sub_actions.push_back(std::move(a));
  recalculate(it->second);
  return commit_mitigation(*t, it->second, now, "mitigation.updated", listener_, Outcome::created);
}

StoreReply Store::patch_sub_action(std::string_view tid, std::string_view mid, std::string_view aid,
                                   const json::object& in, std::int64_t now) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  auto it = t->mitigations.find(std::string(mid));
  if (it == t->mitigations.end()) return not_found("Mitigation not found", t->version);
  for (auto& a : it->second.sub_actions) {
    if (a.id != aid) continue;
    bool bad = false;
    std::string title = text_field(in, "title", bad);
    if (bad || (in.contains("title") && title.empty()))
      return invalid("title must be a non-empty string", t->version);
    if (!title.empty()) a.title = std::move(title);
    return commit_mitigation(*t, it->second, now, "mitigation.updated", listener_, Outcome::ok);
  }
  return not_found("Sub-action not found", t->version);
}

StoreReply Store::set_sub_action_done(std::string_view tid, std::string_view mid, std::string_view aid,
                                      bool done, std::int64_t now) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  auto it = t->mitigations.find(std::string(mid));
  if (it == t->mitigations.end()) return not_found("Mitigation not found", t->version);
  for (auto& a : it->second.sub_actions) {
    if (a.id != aid) continue;
    a.done = done;
    a.completed_at = done ? iso(now) : std::string();
    recalculate(it->second);
    return commit_mitigation(*t, it->second, now, "mitigation.updated", listener_, Outcome::ok);
  }
  return not_found("Sub-action not found", t->version);
}

StoreReply Store::delete_sub_action(std::string_view tid, std::string_view mid, std::string_view aid,
                                    std::int64_t now) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  auto it = t->mitigations.find(std::string(mid));
  if (it == t->mitigations.end()) return not_found("Mitigation not found", t->version);
  auto& subs = it->second.sub_actions;
  auto a = std::find_if(subs.begin(), subs.end(), [&](const SubAction& s) { return s.id == aid; });
  if (a == subs.end()) return not_found("Sub-action not found", t->version);
  subs.erase(a);
  recalculate(it->second);
  StoreReply r = commit_mitigation(*t, it->second, now, "mitigation.updated", listener_, Outcome::deleted);
  r.body.clear();
  return r;
}

// ---- aggregates ----

namespace {

// Aggregates change only with writes: compute once per version (called under the tenant's shared lock).
template <class Tenant, class Compute>
StoreReply cached(const Tenant& t, const char* key, Compute compute) {
  {
    std::lock_guard lock(t.agg_mu);
    auto it = t.agg.find(key);
    if (it != t.agg.end() && it->second.first == t.version)
      return {Outcome::ok, it->second.second, t.version};
  }
  std::string body = compute();
  std::lock_guard lock(t.agg_mu);
  t.agg[key] = {t.version, body};
  return {Outcome::ok, std::move(body), t.version};
}

}  // namespace

StoreReply Store::stats(std::string_view tid) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  return cached(*t, "stats", [&] {
    std::int64_t total = 0, high = 0, mitigated = 0, in_progress = 0, score_sum = 0;
    std::int64_t by_level[4] = {0, 0, 0, 0};
    std::map<std::pair<int, int>, int> matrix;
    for (auto& [id, r] : t->risks) {
      ++total;
      score_sum += r.score();
      int lvl = level_rank(level_for(r.score()));
      ++by_level[lvl];
      if (lvl >= 2) ++high;
      if (r.status == "MITIGATED") ++mitigated;
      if (r.status == "IN_PROGRESS") ++in_progress;
      ++matrix[{r.probability, r.impact}];
    }
    json::array m;
    for (auto& [k, n] : matrix)
      m.push_back(json::object{{"probability", k.first}, {"impact", k.second}, {"count", n}});
    double global =
        total ? std::round(1000.0 * static_cast<double>(score_sum) / static_cast<double>(total)) / 1000.0 : 0;
    json::object o{{"total_risks", total},
                   {"global_risk_score", global},
                   {"high_risks", high},
                   {"mitigated_risks", mitigated},
                   {"in_progress_risks", in_progress},
                   {"quantified_risks", total},
                   {"risks_by_severity", json::object{{"CRITICAL", by_level[3]},
                                                      {"HIGH", by_level[2]},
                                                      {"MEDIUM", by_level[1]},
                                                      {"LOW", by_level[0]}}},
                   {"risk_matrix", std::move(m)}};
    return json::serialize(o);
  });
}

StoreReply Store::risk_matrix(std::string_view tid) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  return cached(*t, "risk_matrix", [&] {
    std::map<std::pair<int, int>, int> matrix;
    for (auto& [id, r] : t->risks) ++matrix[{r.impact, r.probability}];
    json::array a;
    for (auto& [k, n] : matrix)
      a.push_back(json::object{{"impact", k.first}, {"probability", k.second}, {"count", n}});
    return json::serialize(a);
  });
}

StoreReply Store::risk_distribution(std::string_view tid) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  return cached(*t, "risk_distribution", [&] {
    int counts[4] = {0, 0, 0, 0};
    for (auto& [id, r] : t->risks) ++counts[level_rank(level_for(r.score()))];
    json::array a;
    for (int i = 0; i < 4; ++i) a.push_back(json::object{{"level", kLevels[i]}, {"count", counts[i]}});
    return json::serialize(a);
  });
}

StoreReply Store::trends(std::string_view tid, std::int64_t now) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> days;  // date -> (sum, count)
  for (auto& [id, r] : t->risks) {
    if (r.created_unix < now - 30 * 86400 || r.created_unix > now) continue;
    auto& d = days[day_of(r.created_unix)];
    d.first += r.score();
    ++d.second;
  }
  json::array a;
  for (auto& [day, sc] : days)
    a.push_back(json::object{{"date", day},
                             {"score", static_cast<double>(sc.first) / static_cast<double>(sc.second)}});
  return {Outcome::ok, json::serialize(a), t->version};
}

StoreReply Store::mitigation_metrics(std::string_view tid) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  return cached(*t, "mitigation_metrics", [&] {
    std::int64_t total = 0, done = 0, progress = 0, planned = 0;
    for (auto& [id, m] : t->mitigations) {
      ++total;
      done += m.status == "DONE";
      progress += m.status == "IN_PROGRESS" || m.status == "REVIEW";
      planned += m.status == "PLANNED";
    }
    json::object o{
        {"total_mitigations", total},
        {"completed_mitigations", done},
        {"in_progress_mitigations", progress},
        {"planned_mitigations", planned},
        {"average_time_days", 15.5},
        {"completion_rate", total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 0.0}};
    return json::serialize(o);
  });
}

// ---- assets ----

StoreReply Store::list_assets(std::string_view tid) const {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::shared_lock lock(t->mu);
  std::string body = "[";
  for (auto& a : t->assets) {
    std::string risks;
    for (auto& rid : a.risk_ids) {
      auto it = t->risks.find(rid);
      if (it == t->risks.end()) continue;
      if (!risks.empty()) risks += ',';
      risks += it->second.rendered;
    }
    if (body.size() > 1) body += ',';
    body += splice(a.summary, "risks", risks);
  }
  body += ']';
  return {Outcome::ok, std::move(body), t->version};
}

StoreReply Store::create_asset(std::string_view tid, const json::object& in, std::int64_t now) {
  Tenant* t = find(tid);
  if (!t) return not_found("unknown tenant", 0);
  std::unique_lock lock(t->mu);
  if (t->assets.size() >= kMaxAssetsPerTenant) return {Outcome::conflict, "asset limit reached", t->version};
  bool bad = false;
  Asset a;
  a.name = text_field(in, "name", bad);
  if (bad || a.name.empty() || a.name.size() > 255)
    return invalid("name is required (1-255 characters)", t->version);
  a.type = text_field(in, "type", bad);
  if (a.type.empty()) a.type = "server";
  a.category = text_field(in, "category", bad);
  if (a.category.empty()) a.category = a.type;
  a.criticality = upper(text_field(in, "criticality", bad));
  if (a.criticality.empty()) a.criticality = "MEDIUM";
  if (bad || level_rank(a.criticality) < 0) return invalid("invalid asset fields", t->version);
  a.id = t->new_id(cfg_.seed);
  a.created_at = iso(now);
  ++t->version;
  t->render_asset(a);
  std::string body = splice(a.summary, "risks", "");
  t->asset_index[a.id] = t->assets.size();
  t->assets.push_back(std::move(a));
  return {Outcome::created, std::move(body), t->version};
}

}  // namespace orc::sim
