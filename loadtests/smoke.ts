/**
 * Smoke: every endpoint once, and the whole settle → attest → finalize flow with real DID
 * signatures (P-256 did:key, WebCrypto). Every check must pass. The agents it stakes are set
 * inactive at the end, so they never sit on a later committee.
 *
 *   k6 run -e TARGET=http://127.0.0.1:3000 -e ADMIN_TOKEN=... loadtests/smoke.ts
 *   optional: -e POU_M=9 (committee size of the target; default 5) -e STAKE=1000000 (its minimum stake)
 *   -e MONEY=none: move no money (prod's smoke after a promotion, `npm run promote`): no deposit,
 *   stake, settlement, slash or withdrawal; the pou area checks that an unfunded intent is refused
 *   and writes nothing, and the ledger area reads the system accounts before and after the run.
 *   The paid flow itself was proven on staging by the gate, with the same image digest.
 *
 * The summary reports each area (platform, registry, pou, usefulness, realtime, cleanup) through
 * an `area` tag and a threshold per area. Not k6's group(): its tags are unreliable across
 * `await`, and every signed request awaits WebCrypto.
 */
import { check, fail } from 'k6';
import ws from 'k6/ws';
import {
  admin,
  get,
  hex32,
  keyClient,
  post,
  registerAgent,
  signed,
  tagRequests,
  type ApiKey,
  type KeyClient,
  type Res,
} from './lib/api.ts';
import { newSigner, type Signer } from './lib/did.ts';
import { TARGET } from './lib/env.ts';
import { requireHealthyTarget } from './lib/health.ts';
import { summaryOutputs, TREND_STATS, type Summary } from './lib/summary.ts';

const M = Number(__ENV.POU_M || 5);
const STAKE = __ENV.STAKE || '1000000';
// A committee seat needs the stake locked for a receipt's whole life (RECEIPT_TTL_HOURS, 24 by default).
const STAKE_LOCK_SECONDS = 7 * 86_400;
// Deposit references must be unique: one prefix per run.
const RUN = `${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
const MONEY = __ENV.MONEY || 'full';
if (MONEY !== 'full' && MONEY !== 'none') throw new Error(`MONEY must be full or none (got ${MONEY})`);
const ALL_AREAS = ['platform', 'registry', 'pou', 'usefulness', 'realtime', 'cleanup', 'ledger'] as const;
type Area = (typeof ALL_AREAS)[number];
/** With MONEY=none no auditor is staked, so there is nothing to clean up. */
const AREAS = ALL_AREAS.filter((a) => MONEY === 'full' || a !== 'cleanup');

export const options = {
  scenarios: { smoke: { executor: 'shared-iterations', vus: 1, iterations: 1, maxDuration: '2m' } },
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
    ...Object.fromEntries(AREAS.map((a) => [`checks{area:${a}}`, ['rate==1']])),
  },
  summaryTrendStats: TREND_STATS,
};

type SystemLedger = Record<'treasury_atomic' | 'broker_atomic' | 'validators_atomic' | 'pool_atomic', string>;
type Data = { owner: ApiKey; rater: ApiKey; system: SystemLedger | undefined };

let area: Area | 'setup' = 'setup';
function enter(next: Area): void {
  area = next;
  tagRequests({ area });
}

export function setup(): Data {
  requireHealthyTarget();
  const data = {
    owner: admin.createKey('k6-smoke-owner'),
    rater: admin.createKey('k6-smoke-rater'),
    system: systemLedger(),
  };
  ok(admin.get('/api/admin/api-keys'), 200, 'admin lists API keys');
  return data;
}

/** Checks a response's status (and optional body rule); returns the parsed body. */
function ok(res: Res, status: number, what: string, rule?: (body: any) => boolean): any {
  let body: any;
  try {
    body = res.body ? res.json() : undefined;
  } catch {
    body = res.body;
  }
  const passed = check(res, { [what]: (r) => r.status === status && (!rule || rule(body)) }, { area });
  if (!passed) console.error(`[${area}] ${what}: ${res.status} ${String(res.body).slice(0, 300)}`);
  return body;
}

type Staked = { signer: Signer; id: string; key: ApiKey };

export default async function (data: Data) {
  const owner = keyClient(data.owner);
  const rater = keyClient(data.rater);
  const staked: Staked[] = [];
  const provider = await newSigner();
  const client = await newSigner();
  if (MONEY === 'none') {
    platform();
    await registry(owner, rater, data, provider, client);
    await unfunded(client);
    await usefulness(client, provider, undefined);
    realtime(data.owner);
    await untouched(data.system, [client, provider]);
    return;
  }
  try {
    platform();
    await registry(owner, rater, data, provider, client);
    await stakeAuditors(staked);
    const taskId = await settleAttestFinalize(client, provider, staked);
    await usefulness(client, provider, taskId);
    realtime(data.owner);
  } finally {
    cleanup(staked);
    await withdrawAll([client, provider, ...staked.map((s) => s.signer)]);
  }
}

/** The system accounts' balances (admin), or undefined when the target answers otherwise. */
function systemLedger(): SystemLedger | undefined {
  return ok(admin.get('/api/admin/ledger/system'), 200, 'admin reads the system accounts', (b) =>
    ['treasury_atomic', 'broker_atomic', 'validators_atomic', 'pool_atomic'].every(
      (k) => typeof b?.[k] === 'string',
    ),
  ) as SystemLedger | undefined;
}

/**
 * MONEY=none: the pou routes answer without money moving. An intent its client cannot fund is
 * refused (409) and leaves nothing behind: the client's balances stay zero.
 */
async function unfunded(client: Signer): Promise<void> {
  enter('pou');
  ok(
    await signed(
      client,
      'POST',
      '/api/intents',
      {
        intent_type: 'translation',
        description: 'k6 smoke: an intent nobody funded',
        budget_atomic: '1000',
        sla_ms: 10_000,
      },
      {},
      [409],
    ),
    409,
    'an unfunded intent is refused',
    (b) => b?.error === 'INSUFFICIENT_FUNDS',
  );
}

/**
 * MONEY=none: the run's own DIDs hold nothing, and the system accounts are read again. On a target
 * nobody else uses they must equal what setup read (the local gate checks that); on a shared one
 * (prod) other traffic moves them, so the difference is reported, not checked.
 */
async function untouched(before: SystemLedger | undefined, signers: Signer[]): Promise<void> {
  enter('ledger');
  for (const s of signers)
    ok(
      await signed(s, 'GET', ['/api/credits/{did}', { did: s.did }]),
      200,
      'the run left its DIDs no money',
      (b) => b.available === '0' && b.escrow === '0' && b.stake === '0' && b.total === 0,
    );
  const after = systemLedger();
  if (before && after)
    console.log(
      `system accounts moved during the run: ${Object.entries(after)
        .map(([k, v]) => `${k} ${BigInt(v) - BigInt(before[k as keyof SystemLedger])}`)
        .join(', ')}`,
    );
}

function platform(): void {
  enter('platform');
  ok(get('/health'), 200, 'health is healthy', (b) => b.status === 'healthy');
  ok(get('/ready'), 200, 'ready');
  ok(get('/live'), 200, 'live');
  ok(get('/api/v1/agents/health'), 200, 'registry health');
  ok(get('/openapi.json'), 200, 'OpenAPI document', (b) => b.openapi.startsWith('3.'));
}

/** Every ERC-8004 registry endpoint with API keys. */
async function registry(owner: KeyClient, rater: KeyClient, data: Data, provider: Signer, client: Signer) {
  enter('registry');
  const p = await register(data.owner, provider, 'k6 provider');
  const c = await register(data.rater, client, 'k6 client');
  if (!p?.id || !c?.id) fail('registration failed: nothing else can run');
  const id = { id: p.id as string };
  ok(owner.get('/api/v1/agents?q=translation&limit=5'), 200, 'search agents');
  ok(owner.get(['/api/v1/agents/{id}', id]), 200, 'get agent', (b) => b.did === provider.did);
  ok(owner.patch(['/api/v1/agents/{id}', id], { description: 'k6 provider, updated' }), 200, 'update agent');
  ok(owner.get(['/api/v1/agents/{id}/registration', id]), 200, 'registration file');

  const fb = ok(
    rater.post('/api/v1/agents/feedback', { agent_id: p.id, value: 90, value_decimals: 0 }),
    201,
    'give feedback',
  );
  const feedback = { ...id, client: data.rater.address, index: fb?.feedback_index };
  const fbPath = '/api/v1/agents/{id}/feedback/{client}/{index}';
  ok(
    owner.post([`${fbPath}/responses`, feedback], { response_uri: 'ipfs://k6-response' }),
    201,
    'respond to feedback',
  );
  ok(rater.post([`${fbPath}/revoke`, feedback]), 200, 'revoke feedback');
  ok(owner.get(['/api/v1/agents/{id}/reputation', id]), 200, 'registry reputation');
  ok(
    rater.post('/api/v1/agents/link-payment', {
      agent_id: p.id,
      chain_id: 8453,
      tx_hash: hex32(),
      amount_atomic: '1500000',
      asset: 'USDC',
    }),
    201,
    'link a payment',
  );
  ok(owner.get(['/api/v1/agents/{id}/stats', id]), 200, 'agent stats');
  const hash = hex32();
  ok(
    owner.post(['/api/v1/agents/{id}/validations', id], {
      validator_address: data.rater.address,
      request_uri: 'ipfs://k6-request',
      request_hash: hash,
    }),
    201,
    'request a validation',
  );
  ok(
    rater.post(['/api/v1/agents/validations/{hash}/responses', { hash }], { response: 90 }),
    201,
    'answer a validation',
  );
  ok(owner.get(['/api/v1/agents/{id}/validations/summary', id]), 200, 'validation summary');
}

/**
 * Money enters the ledger only through an admin deposit (SPEC section 10). The smoke funds its own
 * DIDs with small amounts, under references that name it (`k6-smoke-…`), so they stand out in the
 * ledger of the target.
 */
function deposit(did: string, amount: string, what: string): void {
  ok(
    admin.post('/api/admin/deposits', { did, amount_atomic: amount, reference: `k6-smoke-${RUN}-${what}` }),
    201,
    'admin deposit',
    (b) => b.replayed === false,
  );
}

/**
 * M agents that stake from deposited funds, so the receipt below gets a committee the script can
 * sign for. Each under its own API key (its own owner address): a committee seats one agent per owner.
 */
async function stakeAuditors(staked: Staked[]): Promise<void> {
  enter('pou');
  for (let i = 0; i < M; i++) {
    const signer = await newSigner();
    const key = admin.createKey(`k6-smoke-auditor-${i}`);
    const a = await register(key, signer, `k6 auditor ${i}`);
    if (!a?.id) continue;
    staked.push({ signer, id: a.id, key });
    deposit(signer.did, STAKE, `stake-${i}`);
    ok(
      await signed(signer, 'POST', '/api/stakes', { amount_atomic: STAKE, lock_seconds: STAKE_LOCK_SECONDS }),
      201,
      'stake from available funds',
      (b) => b.locked_atomic === STAKE,
    );
  }
}

/**
 * The proof-of-usefulness flow. Correct whatever the target's finalizer does meanwhile: the
 * client accepts first (a receipt cannot leave pending before k audit passes), exactly k members
 * pass (so the receipt is still pending at each of them), and `finalize` answers `finalized`
 * whether this call or the scheduled job closed the receipt (SPEC: repeating it returns the
 * same result).
 */
async function settleAttestFinalize(client: Signer, provider: Signer, staked: Staked[]): Promise<string> {
  enter('pou');
  const neg = await intentAndOffer(client, provider, {
    description: 'k6 smoke: translate a document',
    budget: '2000000',
    price: '1200000',
  });
  const n = { id: neg?.id as string };
  ok(await signed(client, 'GET', ['/api/negotiations/{id}', n]), 200, 'read the negotiation');
  ok(
    await signed(client, 'POST', ['/api/negotiations/{id}/propose', n], {
      price_atomic: '1000000',
      eta_ms: 5000,
    }),
    200,
    'counter-offer',
  );
  ok(await signed(provider, 'POST', ['/api/negotiations/{id}/accept', n], {}), 200, 'accept');
  const receipt = ok(
    await signed(client, 'POST', ['/api/negotiations/{id}/settle', n], {
      outputs_ref: 'ipfs://k6-out',
      metrics: { latency_ms: 2000 },
    }),
    201,
    'settle: a receipt with a committee',
    (b) => Array.isArray(b.committee) && b.committee.length > 0 && b.status === 'pending',
  );
  const t = { task_id: receipt?.task_id as string };
  ok(await signed(client, 'GET', ['/api/receipts/{task_id}', t]), 200, 'read the receipt');
  const committee = ok(get(['/api/receipts/{task_id}/committee', t]), 200, 'read the committee');
  const attest = ['/api/receipts/{task_id}/attestations', t] as const;
  ok(
    await signed(client, 'POST', attest, { type: 'ACCEPTED', score: 1, confidence: 1 }),
    201,
    'client accepts',
  );
  const members: string[] = committee?.committee ?? receipt?.committee ?? [];
  // Agents of an earlier run may sit on the committee too: this run can sign only for its own.
  const ours = members.flatMap((did) => staked.filter((s) => s.signer.did === did));
  const k = Number(receipt?.k ?? 0);
  if (ours.length < k) fail(`only ${ours.length} of the committee's ${k} needed members are this run's`);
  for (const member of ours.slice(0, k))
    ok(
      await signed(member.signer, 'POST', attest, { type: 'AUDIT_PASS', score: 0.9, confidence: 0.8 }),
      201,
      'attest as a committee member',
    );
  ok(await signed(client, 'GET', attest), 200, 'list attestations', (b) => b.total === k + 1);
  ok(
    post(['/api/receipts/{task_id}/finalize', t]),
    200,
    'finalize (k of m)',
    (b) => b.status === 'finalized',
  );
  ok(
    await signed(client, 'GET', ['/api/reputation/{did}', { did: provider.did }]),
    200,
    'reputation moved',
    (b) => b.tasks_finalized >= 1,
  );
  // 2000000 deposited and escrowed; 1000000 paid; the rest released back to available.
  ok(
    await signed(client, 'GET', ['/api/credits/{did}', { did: client.did }]),
    200,
    "the client's balances after settling",
    (b) => b.available === '1000000' && b.escrow === '0',
  );

  const neg2 = await intentAndOffer(client, provider, {
    description: 'k6 smoke: rejected',
    budget: '2000',
    price: '1500',
  });
  ok(await signed(client, 'POST', ['/api/negotiations/{id}/reject', { id: neg2?.id }], {}), 200, 'reject');
  const intent = { id: neg2?.intent_id as string };
  ok(await signed(client, 'GET', ['/api/intents/{id}', intent]), 200, 'read the intent');
  ok(
    await signed(client, 'POST', ['/api/intents/{id}/cancel', intent], {}),
    200,
    'cancel the intent: its escrow is released',
    (b) => b.status === 'cancelled',
  );
  return t.task_id;
}

/** A usefulness proof of the settled task (none with MONEY=none: no task was paid), then the reads. */
async function usefulness(client: Signer, provider: Signer, taskId: string | undefined): Promise<void> {
  enter('usefulness');
  const did = { did: provider.did };
  if (taskId)
    ok(
      await signed(provider, 'POST', '/api/usefulness/proofs', {
        trace_id: `k6-${Date.now()}`,
        task_id: taskId,
        metrics: { compute_ms: 1000, memory_mb: 5, hops: 1, checks: 1, samples: 10 },
      }),
      201,
      'usefulness proof',
    );
  ok(await signed(provider, 'GET', ['/api/usefulness/{did}', did]), 200, 'usefulness');
  ok(await signed(provider, 'GET', ['/api/credits/{did}', did]), 200, 'credits');
  ok(await signed(client, 'GET', '/api/discovery?q=translation'), 200, 'discovery');
}

/** The WebSocket upgrade with an API key. */
function realtime(key: ApiKey): void {
  enter('realtime');
  const upgrade = ws.connect(
    `${TARGET.replace(/^http/, 'ws')}/ws`,
    { headers: { Authorization: `Bearer ${key.key}` }, tags: { name: 'GET /ws', area } },
    (socket) => {
      socket.setTimeout(() => socket.close(), 200);
    },
  );
  check(upgrade, { 'websocket upgrade': (u) => !!u && u.status === 101 }, { area });
}

/**
 * The auditors leave every later committee: inactive, one slashed (the admin endpoint), and their
 * API keys removed.
 */
function cleanup(staked: Staked[]): void {
  enter('cleanup');
  for (const [i, s] of staked.entries()) {
    ok(
      keyClient(s.key).patch(['/api/v1/agents/{id}', { id: s.id }], { status: 'inactive' }),
      200,
      'retire an auditor',
    );
    if (i === 0)
      ok(
        admin.post('/api/admin/slash', { did: s.signer.did, amount_atomic: '1', reason: 'k6 smoke' }),
        200,
        'admin slash',
      );
    ok(admin.deleteKey(s.key.id), 200, 'delete an auditor key');
  }
}

/**
 * Money leaves the way it came in (SPEC v3, "Withdrawals"): whatever this run's DIDs hold
 * available at the end (the client's unspent deposits and released escrow, the provider's
 * earnings) goes back to treasury under references that name the run (`k6-smoke-<run>-withdraw-…`),
 * so the smoke leaves no spendable money behind. What a run cannot take back by itself: the
 * auditors' stakes (locked for a receipt's whole life, 7 days) and the settlement's fee shares in
 * the broker, validators and pool accounts.
 */
async function withdrawAll(signers: Signer[]): Promise<void> {
  enter('ledger');
  for (const [i, s] of signers.entries()) {
    const did = { did: s.did };
    const held = ok(await signed(s, 'GET', ['/api/credits/{did}', did]), 200, 'read what is left');
    const amount = String(held?.available ?? '0');
    if (amount === '0') continue;
    ok(
      admin.post('/api/admin/withdrawals', {
        did: s.did,
        amount_atomic: amount,
        reference: `k6-smoke-${RUN}-withdraw-${i}`,
      }),
      201,
      'admin withdrawal of what the run left available',
      (b) => b.replayed === false && b.balances.available === '0',
    );
  }
}

/** Registers an agent for `signer`'s DID (API key plus the DID's proof of control); returns it. */
async function register(key: ApiKey, signer: Signer, name: string): Promise<any> {
  return ok(await registerAgent(key, signer, name), 201, `register ${name.replace(/ [0-9]+$/, '')}`);
}

/** A client's intent and a provider's offer on it; returns the negotiation. */
async function intentAndOffer(
  client: Signer,
  provider: Signer,
  o: { description: string; budget: string; price: string },
): Promise<any> {
  deposit(client.did, o.budget, `intent-${o.budget}`);
  const intent = ok(
    await signed(client, 'POST', '/api/intents', {
      intent_type: 'translation',
      description: o.description,
      budget_atomic: o.budget,
      sla_ms: 10_000,
    }),
    201,
    'post an intent',
  );
  return ok(
    await signed(provider, 'POST', '/api/negotiations', {
      intent_id: intent?.id,
      price_atomic: o.price,
      eta_ms: 5000,
    }),
    201,
    'offer',
  );
}

export function teardown(data: Data) {
  for (const k of [data.owner, data.rater]) ok(admin.deleteKey(k.id), 200, 'delete the smoke API key');
}

export function handleSummary(data: Summary) {
  return summaryOutputs('smoke', data);
}
