// Risks, mitigations, sub-actions, stats, assets, marketplace, the SSE event stream and the PDF export.
// Thin: query parsing and status mapping here, data work in Store.
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>

#include "openrisk_sim/handlers.hpp"
#include "openrisk_sim/text.hpp"

namespace orc::sim {

namespace json = boost::json;

namespace {

int int_param(const Call& c, std::string_view name, int fallback, int lo, int hi) {
  auto v = query_param(c.req.query, name);
  if (!v) return fallback;
  int n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc{} || p != v->data() + v->size() || n < lo || n > hi)
    return fallback;  // like the backend
  return n;
}

std::vector<std::string> csv_upper(const std::optional<std::string>& v) {
  std::vector<std::string> out;
  if (!v) return out;
  for (auto part : split_list(*v, ',')) {
    std::string s(part);
    for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    out.push_back(std::move(s));
  }
  return out;
}

// Writes need a JSON object body; an empty body counts as {} for routes with no required field.
std::optional<json::object> body_object(const Call& c) {
  if (c.req.body.empty()) return json::object{};
  return parse_object(c.req.body);
}

const std::string& tenant(const Call& c) {
  return c.caller->tenant_id;
}

const char* kConnectors[][3] = {{"aws-security-hub", "AWS Security Hub", "cloud"},
                                {"azure-defender", "Microsoft Defender", "cloud"},
                                {"crowdstrike", "CrowdStrike Falcon", "edr"},
                                {"jira", "Jira Software", "ticketing"},
                                {"servicenow", "ServiceNow", "ticketing"},
                                {"slack", "Slack", "notification"},
                                {"teams", "Microsoft Teams", "notification"},
                                {"qualys", "Qualys VMDR", "scanner"},
                                {"nessus", "Tenable Nessus", "scanner"},
                                {"thehive", "TheHive", "incident"},
                                {"okta", "Okta", "identity"},
                                {"github", "GitHub Advanced Security", "code"}};

}  // namespace

Response risks_list(const Call& c) {
  RiskQuery q;
  q.page = int_param(c, "page", 1, 1, 1'000'000);
  q.limit = int_param(c, "limit", 20, 1, 200);
  q.statuses = csv_upper(query_param(c.req.query, "status"));
  q.criticalities = csv_upper(query_param(c.req.query, "severity"));
  auto crit = csv_upper(query_param(c.req.query, "criticality"));
  q.criticalities.insert(q.criticalities.end(), crit.begin(), crit.end());
  auto search = query_param(c.req.query, "search");
  if (!search) search = query_param(c.req.query, "q");
  if (search) q.search = to_lower(*search);
  // `sort=-score` (or `score:desc`) as in the issue, or the backend's own sort_by + sort_dir.
  if (auto s = query_param(c.req.query, "sort"); s && !s->empty()) {
    std::string v = *s;
    q.descending = false;
    if (v.front() == '-') {
      q.descending = true;
      v.erase(0, 1);
    }
    if (auto colon = v.find(':'); colon != std::string::npos) {
      q.descending = iequals(v.substr(colon + 1), "desc");
      v.erase(colon);
    }
    q.sort_by = v;
  }
  if (auto s = query_param(c.req.query, "sort_by"); s && !s->empty()) q.sort_by = *s;
  if (auto d = query_param(c.req.query, "sort_dir")) q.descending = !iequals(*d, "asc");
  return from_store(c.ctx.store.list_risks(tenant(c), q), tenant(c));
}

Response risk_get(const Call& c) {
  return from_store(c.ctx.store.get_risk(tenant(c), c.params[0]), tenant(c));
}

Response risk_create(const Call& c) {
  auto in = body_object(c);
  if (!in) return error_reply(400, "Invalid request body");
  return from_store(c.ctx.store.create_risk(tenant(c), *in, *c.caller->user, c.now), tenant(c));
}

Response risk_patch(const Call& c) {
  auto in = body_object(c);
  if (!in) return error_reply(400, "Invalid request body");
  return from_store(c.ctx.store.patch_risk(tenant(c), c.params[0], *in, c.now), tenant(c));
}

Response risk_delete(const Call& c) {
  return from_store(c.ctx.store.delete_risk(tenant(c), c.params[0]), tenant(c));
}

Response risk_mitigations(const Call& c) {
  return from_store(c.ctx.store.risk_mitigations(tenant(c), c.params[0]), tenant(c));
}

Response mitigation_create(const Call& c) {
  auto in = body_object(c);
  if (!in) return error_reply(400, "Invalid request body");
  return from_store(c.ctx.store.create_mitigation(tenant(c), c.params[0], *in, c.now), tenant(c));
}

Response mitigations_list(const Call& c) {
  return from_store(c.ctx.store.list_mitigations(tenant(c), query_param(c.req.query, "status").value_or(""),
                                                 query_param(c.req.query, "risk_id").value_or("")),
                    tenant(c));
}

Response mitigation_get(const Call& c) {
  return from_store(c.ctx.store.get_mitigation(tenant(c), c.params[0]), tenant(c));
}

Response mitigation_patch(const Call& c) {
  auto in = body_object(c);
  if (!in) return error_reply(400, "Invalid request body");
  return from_store(c.ctx.store.patch_mitigation(tenant(c), c.params[0], *in, c.now), tenant(c));
}

Response mitigation_delete(const Call& c) {
  return from_store(c.ctx.store.delete_mitigation(tenant(c), c.params[0]), tenant(c));
}

Response sub_action_create(const Call& c) {
  auto in = body_object(c);
  if (!in) return error_reply(400, "Invalid request body");
  return from_store(c.ctx.store.add_sub_action(tenant(c), c.params[0], *in, c.now), tenant(c));
}

Response sub_action_patch(const Call& c) {
  auto in = body_object(c);
  if (!in) return error_reply(400, "Invalid request body");
  return from_store(c.ctx.store.patch_sub_action(tenant(c), c.params[0], c.params[1], *in, c.now), tenant(c));
}

Response sub_action_complete(const Call& c) {
  return from_store(c.ctx.store.set_sub_action_done(tenant(c), c.params[0], c.params[1], true, c.now),
                    tenant(c));
}

Response sub_action_revert(const Call& c) {
  return from_store(c.ctx.store.set_sub_action_done(tenant(c), c.params[0], c.params[1], false, c.now),
                    tenant(c));
}

Response sub_action_delete(const Call& c) {
  return from_store(c.ctx.store.delete_sub_action(tenant(c), c.params[0], c.params[1], c.now), tenant(c));
}

Response stats(const Call& c) {
  return from_store(c.ctx.store.stats(tenant(c)), tenant(c));
}
Response stats_risk_matrix(const Call& c) {
  return from_store(c.ctx.store.risk_matrix(tenant(c)), tenant(c));
}
Response stats_trends(const Call& c) {
  return from_store(c.ctx.store.trends(tenant(c), c.now), tenant(c));
}
Response stats_risk_distribution(const Call& c) {
  return from_store(c.ctx.store.risk_distribution(tenant(c)), tenant(c));
}
Response stats_mitigation_metrics(const Call& c) {
  return from_store(c.ctx.store.mitigation_metrics(tenant(c)), tenant(c));
}

Response assets_list(const Call& c) {
  return from_store(c.ctx.store.list_assets(tenant(c)), tenant(c));
}

Response asset_create(const Call& c) {
  auto in = body_object(c);
  if (!in) return error_reply(400, "Invalid request body");
  return from_store(c.ctx.store.create_asset(tenant(c), *in, c.now), tenant(c));
}

// Global catalogue data: the same bytes for every caller of every tenant (a shared-cache candidate).
Response marketplace_connectors(const Call& c) {
  constexpr int kTotal = static_cast<int>(sizeof kConnectors / sizeof kConnectors[0]);
  int limit = int_param(c, "limit", 20, 1, 100);
  int offset = int_param(c, "offset", 0, 0, 1'000'000);
  json::array data;
  for (int i = offset; i < kTotal && i < offset + limit; ++i) {
    data.push_back(json::object{{"id", kConnectors[i][0]},
                                {"name", kConnectors[i][1]},
                                {"category", kConnectors[i][2]},
                                {"status", "active"},
                                {"version", "1." + std::to_string(i % 4) + ".0"},
                                {"publisher", "OpenDefender"},
                                {"rating", 4.0 + (i % 10) / 10.0},
                                {"installs", 100 + i * 37},
                                {"description", std::string("Connects OpenRisk to ") + kConnectors[i][1] +
                                                    " to import findings and push remediation tasks."}});
  }
  json::object o{{"data", std::move(data)}, {"total", kTotal}, {"limit", limit}, {"offset", offset}};
  return json_reply(200, json::serialize(o));
}

Response mitigation_events(const Call& c) {
  Response r;
  r.kind = BodyKind::sse;
  r.content_type = "text/event-stream";
  r.tenant_id = tenant(c);
  r.version = c.ctx.store.version(tenant(c));
  r.headers = {{"Cache-Control", "no-cache"}, {"Connection", "keep-alive"}, {"X-Accel-Buffering", "no"}};
  return r;
}

Response export_pdf(const Call& c) {
  std::uint64_t size = c.ctx.opts.default_export_size;
  if (auto s = query_param(c.req.query, "size")) {
    auto parsed = parse_size(*s);
    if (!parsed) return error_reply(400, "size must be a byte count such as 1048576 or 4MiB");
    if (*parsed > c.ctx.opts.max_export_size) return error_reply(400, "size exceeds --max-export-size");
    size = *parsed;
  }
  Response r;
  r.kind = BodyKind::generated;
  r.content_type = "application/pdf";
  r.tenant_id = tenant(c);
  r.version = c.ctx.store.version(tenant(c));
  r.generated_size = size;
  r.headers = {{"Content-Disposition", "attachment; filename=openrisk_report.pdf"}};
  r.body = "%PDF-1.4\n% openrisk-sim report tenant=" + tenant(c) + " version=" + std::to_string(r.version) +
           " risks=" + std::to_string(c.ctx.store.risk_count(tenant(c))) + "\n";
  return r;
}

}  // namespace orc::sim
