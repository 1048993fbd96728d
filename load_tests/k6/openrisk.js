// k6 load test of openrisk-cache: the OpenRisk read mix with writes, in three stages.
//
//   k6 run -e DIRECT_URL=http://127.0.0.1:8081 -e PROXY_URL=http://127.0.0.1:8080 load_tests/k6/openrisk.js
//
// Stages (k6 scenarios, one after the other):
//   baseline  the simulator (or API) directly, without the proxy: the reference latency and throughput;
//   warm      the proxy, constant users: fills the cache, then measures the warm-cache hit rate;
//   peak      the proxy, ramping to PEAK_VUS users: throughput and latency at peak.
// Environment: DIRECT_URL, PROXY_URL, PASSWORD (sim-password), WRITE_SHARE (0.05), VUS (50), PEAK_VUS (200),
// BASELINE (1m), WARM (2m), PEAK (3m). Users log in to DIRECT_URL first (one token each).
import { loginAll, step } from './lib/mix.js';

const DIRECT_URL = __ENV.DIRECT_URL || 'http://127.0.0.1:8081';
const PROXY_URL = __ENV.PROXY_URL || 'http://127.0.0.1:8080';
const PASSWORD = __ENV.PASSWORD || 'sim-password';
const WRITE_SHARE = parseFloat(__ENV.WRITE_SHARE || '0.05');
const VUS = parseInt(__ENV.VUS || '50', 10);
const PEAK_VUS = parseInt(__ENV.PEAK_VUS || '200', 10);
const BASELINE = __ENV.BASELINE || '1m';
const WARM = __ENV.WARM || '2m';
const PEAK = __ENV.PEAK || '3m';

function seconds(d) {
  const m = /^(\d+)(s|m)$/.exec(d);
  if (!m) throw new Error(`duration ${d}: use 30s or 2m`);
  return parseInt(m[1], 10) * (m[2] === 'm' ? 60 : 1);
}

const warmStart = seconds(BASELINE) + 5;
const peakStart = warmStart + seconds(WARM) + 5;

export const options = {
  scenarios: {
    baseline: {
      executor: 'constant-vus', vus: VUS, duration: BASELINE, exec: 'direct',
      tags: { stage: 'baseline' },
    },
    warm: {
      executor: 'constant-vus', vus: VUS, duration: WARM, exec: 'proxied',
      startTime: `${warmStart}s`, tags: { stage: 'warm' },
    },
    peak: {
      executor: 'ramping-vus', startVUs: VUS, exec: 'proxied', startTime: `${peakStart}s`,
      stages: [
        { duration: '30s', target: PEAK_VUS },
        { duration: PEAK, target: PEAK_VUS },
        { duration: '10s', target: 0 },
      ],
      tags: { stage: 'peak' },
    },
  },
  thresholds: {
    // No errors anywhere; reads served from the cache at least 75% of the time once warm and at peak.
    'http_req_failed': ['rate<0.01'],
    'checks{check:X-Cache is HIT,stage:warm}': ['rate>0.75'],
    'checks{check:X-Cache is HIT,stage:peak}': ['rate>0.75'],
    // The Phase 5 promise: the proxy's latency is a fraction of the backend's.
    'http_req_duration{stage:baseline}': ['p(95)<1000'],
    'http_req_duration{stage:warm}': ['p(95)<100', 'p(99)<250'],
    'http_req_duration{stage:peak}': ['p(95)<150', 'p(99)<400'],
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

export function setup() {
  return { users: loginAll(DIRECT_URL, PASSWORD) };
}

export function direct(data) {
  step(DIRECT_URL, data.users, WRITE_SHARE, false);
}

export function proxied(data) {
  step(PROXY_URL, data.users, WRITE_SHARE, true);
}
