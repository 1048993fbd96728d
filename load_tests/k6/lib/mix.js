// The OpenRisk request mix shared by the k6 scenarios (same routes and weights as load_tests/wrk/openrisk.lua).
import http from 'k6/http';
import { check } from 'k6';

export const TENANTS = ['acme', 'globex', 'initech'];
export const ROLES = [
  { role: 'admin', writer: true },
  { role: 'analyst', writer: true },
  { role: 'viewer', writer: false },
];

const STATUSES = ['OPEN', 'IN_PROGRESS', 'MITIGATED', 'DRAFT'];
const SEVERITIES = ['HIGH', 'CRITICAL', 'MEDIUM', 'LOW'];
const WORDS = ['data', 'access', 'vendor', 'cloud', 'phishing', 'backup'];

function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

function int(n) {
  return 1 + Math.floor(Math.random() * n);
}

// Every user logs in to the simulator (or the API) once: one token each, and its tenant's risk ids.
export function loginAll(baseUrl, password) {
  const users = [];
  const idsByTenant = {};
  for (const slug of TENANTS) {
    for (const { role, writer } of ROLES) {
      const res = http.post(`${baseUrl}/api/v1/auth/login`,
        JSON.stringify({ email: `${role}@${slug}.test`, password }),
        { headers: { 'Content-Type': 'application/json' }, tags: { name: 'login' } });
      check(res, { 'login 200': (r) => r.status === 200 });
      const body = res.json();
      const token = (body.token_pair && body.token_pair.access_token) || body.token;
      if (!idsByTenant[slug]) {
        const list = http.get(`${baseUrl}/api/v1/risks?page=1&limit=200&sort=created_at:asc`,
          { headers: { Authorization: `Bearer ${token}` }, tags: { name: 'setup' } });
        idsByTenant[slug] = list.json('items').map((r) => r.id);
      }
      users.push({ token, writer, tenant: slug, ids: idsByTenant[slug] });
    }
  }
  return users;
}

// [weight, name, path(user)]
const READS = [
  [25, 'risk-list', () => `/api/v1/risks?page=${int(5)}&limit=20`],
  [10, 'risk-list-status', () => `/api/v1/risks?status=${pick(STATUSES)}&limit=20`],
  [5, 'risk-list-severity', () => `/api/v1/risks?criticality=${pick(SEVERITIES)}&sort_by=score&sort_dir=desc`],
  [15, 'stats', () => '/api/v1/stats'],
  [10, 'stats-risk-matrix', () => '/api/v1/stats/risk-matrix'],
  [5, 'stats-trends', () => '/api/v1/stats/trends'],
  [25, 'risk-detail', (u) => `/api/v1/risks/${u.ids[Math.floor(Math.random() * Math.min(50, u.ids.length))]}`],
  [5, 'search', () => `/api/v1/risks?q=${pick(WORDS)}`],
];
const TOTAL = READS.reduce((s, r) => s + r[0], 0);

function pickRead(user) {
  let r = Math.random() * TOTAL;
  for (const [w, name, path] of READS) {
    r -= w;
    if (r <= 0) return [name, path(user)];
  }
  return [READS[0][1], READS[0][2](user)];
}

// One iteration: a read of the mix, or (with probability writeShare) a write by a user allowed to write.
// expectCache: the target is openrisk-cache, so reads are checked for X-Cache.
export function step(baseUrl, users, writeShare, expectCache) {
  let user = pick(users);
  if (Math.random() < writeShare) {
    const writers = users.filter((u) => u.writer);
    user = pick(writers);
    const id = pick(user.ids);
    const params = {
      headers: { Authorization: `Bearer ${user.token}`, 'Content-Type': 'application/json' },
    };
    let res;
    if (Math.random() < 0.5) {
      params.tags = { name: 'risk-patch' };
      res = http.patch(`${baseUrl}/api/v1/risks/${id}`,
        JSON.stringify({ impact: int(5), probability: int(5) }), params);
    } else {
      params.tags = { name: 'mitigation-create' };
      res = http.post(`${baseUrl}/api/v1/risks/${id}/mitigations`,
        JSON.stringify({ title: 'load test plan', priority: 'MEDIUM' }), params);
    }
    check(res, { 'write 2xx': (r) => r.status >= 200 && r.status < 300 });
    return;
  }
  const [name, path] = pickRead(user);
  const res = http.get(`${baseUrl}${path}`,
    { headers: { Authorization: `Bearer ${user.token}` }, tags: { name } });
  check(res, { 'read 200': (r) => r.status === 200 });
  if (expectCache) {
    check(res, { 'X-Cache is HIT': (r) => r.headers['X-Cache'] === 'HIT' || r.headers['X-Cache'] === 'STALE' });
  }
}
