import { check } from 'k6';
import { admin, keyClient, registerAgent, signed, type ApiKey, type Res } from './api.ts';
import { exportSigner, importSigner, newSigner, type ExportedSigner, type Signer } from './did.ts';
import { slo } from './slo.ts';
import { requireHealthyTarget } from './health.ts';
import { summaryOutputs, TREND_STATS, type Summary } from './summary.ts';

/**
 * The traffic every load profile sends: the read endpoints agents and clients call most, spread
 * over many API keys (as real clients are, and so the per-key rate limits are not what is
 * measured), over agents registered in setup(), and a share of DID-signed writes (a client
 * posting an intent), so the gate measures signature verification and a transaction too.
 */
export type TrafficData = {
  keys: ApiKey[];
  agents: { id: string; did: string }[];
  /** One funded client identity per VU (VU n signs as clients[n - 1]). */
  clients: ExportedSigner[];
};

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
    const res = await registerAgent(keys[i % keys.length]!, signer, `k6 load ${i}`);
    if (res.status === 201) agents.push({ id: (res.json() as { id: string }).id, did: signer.did });
  }
  if (agents.length < AGENTS / 2) throw new Error(`setup registered only ${agents.length} agents`);
  // Every VU's client identity is made and funded here, before the measured traffic: funding a VU
  // on its first write put up to maxVUs deposits (all debiting the one treasury account, so they
  // queue on its row) and the VUs k6 started while they waited into the first seconds of the
  // measurement, which then measured the load generator's start, not the broker.
  const clients: ExportedSigner[] = [];
  for (let i = 0; i < slo.load.maxVUs; i++) {
    const signer = await newSigner();
    const res = admin.post('/api/admin/deposits', {
      did: signer.did,
      amount_atomic: '1000000000000',
      reference: `k6-load-${signer.did}`,
    });
    if (res.status !== 201) throw new Error(`setup could not fund a client: ${res.status} ${res.body}`);
    clients.push(await exportSigner(signer));
  }
  return { keys, agents, clients };
}

const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/**
 * The share of iterations that are signed writes: one in ten, as a busy marketplace might see
 * (WRITE_SHARE overrides it, e.g. 0 to measure reads alone).
 */
export const WRITE_SHARE = Number(__ENV.WRITE_SHARE ?? 0.1);

/** Each VU signs as its own client, funded in setup() (imported once: a CryptoKey cannot cross from setup()). */
let client: Signer | undefined;

/**
 * One request of the mix: 10% a signed intent; of the reads, 40% agent by id and 15% each
 * reputation, stats, search and discovery.
 */
export async function trafficIteration(data: TrafficData): Promise<void> {
  const roll = Math.random();
  if (roll < WRITE_SHARE) {
    // Funded in setup() with enough for every intent this VU will open: each escrows its budget.
    client ??= await importSigner(data.clients[(__VU - 1) % data.clients.length]!);
    const res = await signed(client, 'POST', '/api/intents', {
      intent_type: 'translation',
      description: 'k6 load: an intent',
      budget_atomic: '1000',
    });
    check(res, { 'status 201': (r) => r.status === 201 });
    return;
  }
  const res = readRequest(data, (roll - WRITE_SHARE) / (1 - WRITE_SHARE));
  check(res, { 'status 200': (r) => r.status === 200 });
}

/** One read of the mix, chosen by `read` in [0, 1). */
export function readRequest(data: TrafficData, read: number): Res {
  const c = keyClient(pick(data.keys));
  const id = { id: pick(data.agents).id };
  if (read < 0.4) return c.get(['/api/v1/agents/{id}', id]);
  if (read < 0.55) return c.get(['/api/v1/agents/{id}/reputation', id]);
  if (read < 0.7) return c.get(['/api/v1/agents/{id}/stats', id]);
  if (read < 0.85) return c.get('/api/v1/agents?q=translation&limit=10');
  return c.get('/api/discovery?q=translation&limit=10');
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
