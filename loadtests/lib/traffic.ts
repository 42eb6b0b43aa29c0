import { check } from 'k6';
import { admin, agentBody, keyClient, type ApiKey } from './api.ts';
import { newSigner } from './did.ts';
import { requireHealthyTarget } from './health.ts';
import { summaryOutputs, TREND_STATS, type Summary } from './summary.ts';

/**
 * The traffic every load profile sends: the read endpoints agents and clients call most, spread
 * over many API keys (as real clients are, and so the per-key rate limits are not what is
 * measured), over agents registered in setup().
 */
export type TrafficData = { keys: ApiKey[]; agents: { id: string; did: string }[] };

const AGENTS = 20;

export async function trafficSetup(rate: number): Promise<TrafficData> {
  requireHealthyTarget();
  // The default per-key limits are 1,000 GETs and 300 searches a minute: 10 requests/s per key
  // (1.5/s of them searches) leaves room, so what is measured is the broker, not the rate limiter.
  const count = Math.max(4, Math.ceil(rate / 10));
  const keys: ApiKey[] = [];
  for (let i = 0; i < count; i++) keys.push(admin.createKey(`k6-load-${i}`));
  const agents: { id: string; did: string }[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const signer = await newSigner();
    const owner = keyClient(keys[i % keys.length]!);
    const res = owner.post(
      '/api/v1/agents/register',
      'POST /api/v1/agents/register',
      agentBody(signer.did, `k6 load ${i}`),
    );
    if (res.status === 201) agents.push({ id: (res.json() as { id: string }).id, did: signer.did });
  }
  if (agents.length < AGENTS / 2) throw new Error(`setup registered only ${agents.length} agents`);
  return { keys, agents };
}

const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/** One request of the mix: 40% agent by id, 15% each reputation, stats, search and discovery. */
export function trafficIteration(data: TrafficData): void {
  const c = keyClient(pick(data.keys));
  const agent = pick(data.agents);
  const roll = Math.random();
  let res;
  if (roll < 0.4) res = c.get(`/api/v1/agents/${agent.id}`, 'GET /api/v1/agents/{id}');
  else if (roll < 0.55)
    res = c.get(`/api/v1/agents/${agent.id}/reputation`, 'GET /api/v1/agents/{id}/reputation');
  else if (roll < 0.7) res = c.get(`/api/v1/agents/${agent.id}/stats`, 'GET /api/v1/agents/{id}/stats');
  else if (roll < 0.85) res = c.get('/api/v1/agents?q=translation&limit=10', 'GET /api/v1/agents');
  else res = c.get('/api/discovery?q=translation&limit=10', 'GET /api/discovery');
  check(res, { 'status 200': (r) => r.status === 200 });
}

export function trafficTeardown(data: TrafficData): void {
  for (const k of data.keys) admin.deleteKey(k.id);
}

/** Options of a traffic profile: its scenario, its thresholds, p99 in the summary. */
export function profileOptions(name: string, scenario: object, thresholds: object) {
  return { scenarios: { [name]: scenario }, thresholds, summaryTrendStats: TREND_STATS, setupTimeout: '60s' };
}

/** The lifecycle functions every traffic profile exports (k6 picks them up by name). */
export function profileHandlers(name: string, rate: number) {
  return {
    setup: (): Promise<TrafficData> => trafficSetup(rate),
    teardown: (data: TrafficData) => trafficTeardown(data),
    handleSummary: (data: Summary) => summaryOutputs(name, data),
  };
}
