// k6: cached hits only (the nginx comparison of load_tests/bench, for teams that run k6).
//
//   k6 run -e PROXY_URL=http://127.0.0.1:8080 -e DIRECT_URL=http://127.0.0.1:8081 load_tests/k6/hits.js
//
// Stages: baseline (the backend directly), warm (fills the cache: 20 s), peak (constant VUS, every read a HIT).
import http from 'k6/http';
import { check } from 'k6';
import { loginAll } from './lib/mix.js';

const DIRECT_URL = __ENV.DIRECT_URL || 'http://127.0.0.1:8081';
const PROXY_URL = __ENV.PROXY_URL || 'http://127.0.0.1:8080';
const VUS = parseInt(__ENV.VUS || '50', 10);

export const options = {
  scenarios: {
    baseline: { executor: 'constant-vus', vus: VUS, duration: '30s', exec: 'direct', tags: { stage: 'baseline' } },
    warm: { executor: 'constant-vus', vus: VUS, duration: '20s', exec: 'proxied', startTime: '35s',
            tags: { stage: 'warm' } },
    peak: { executor: 'constant-vus', vus: VUS, duration: '1m', exec: 'proxied', startTime: '60s',
            tags: { stage: 'peak' } },
  },
  thresholds: {
    'http_req_failed': ['rate<0.001'],
    'checks{check:X-Cache is HIT,stage:peak}': ['rate>0.99'],
    'http_req_duration{stage:peak}': ['p(99)<20'],
  },
};

const PATHS = [
  (u) => '/api/v1/stats',
  (u) => '/api/v1/stats/risk-matrix',
  (u) => '/api/v1/risks?page=1&limit=20',
  (u) => `/api/v1/risks/${u.ids[Math.floor(Math.random() * 10)]}`,
];

export function setup() {
  return { users: loginAll(DIRECT_URL, __ENV.PASSWORD || 'sim-password') };
}

function get(base, data, expectHit) {
  const u = data.users[Math.floor(Math.random() * data.users.length)];
  const path = PATHS[Math.floor(Math.random() * PATHS.length)](u);
  const res = http.get(`${base}${path}`, { headers: { Authorization: `Bearer ${u.token}` } });
  check(res, { 'read 200': (r) => r.status === 200 });
  if (expectHit) check(res, { 'X-Cache is HIT': (r) => r.headers['X-Cache'] === 'HIT' });
}

export function direct(data) { get(DIRECT_URL, data, false); }
export function proxied(data) { get(PROXY_URL, data, true); }
