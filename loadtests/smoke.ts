/**
 * Smoke: every endpoint once, and the whole settle → attest → finalize flow with real DID
 * signatures (P-256 did:key, WebCrypto). Every check must pass. The agents it stakes are set
 * inactive at the end, so they never sit on a later committee.
 *
 *   k6 run -e TARGET=http://127.0.0.1:3000 -e ADMIN_TOKEN=... loadtests/smoke.ts
 *   optional: -e POU_M=9 (committee size of the target; default 5) -e STAKE=1000000 (its minimum stake)
 */
import { check, fail } from 'k6';
import ws from 'k6/ws';
import { admin, agentBody, get, hex32, keyClient, post, signed, type ApiKey, type Res } from './lib/api.ts';
import { newSigner, type Signer } from './lib/did.ts';
import { TARGET } from './lib/env.ts';
import { requireHealthyTarget } from './lib/health.ts';
import { summaryOutputs, TREND_STATS, type Summary } from './lib/summary.ts';

const M = Number(__ENV.POU_M || 5);
const STAKE = __ENV.STAKE || '1000000';

export const options = {
  scenarios: { smoke: { executor: 'shared-iterations', vus: 1, iterations: 1, maxDuration: '2m' } },
  thresholds: { checks: ['rate==1'], http_req_failed: ['rate==0'] },
  summaryTrendStats: TREND_STATS,
};

type Data = { owner: ApiKey; rater: ApiKey };

export function setup(): Data {
  requireHealthyTarget();
  const data = { owner: admin.createKey('k6-smoke-owner'), rater: admin.createKey('k6-smoke-rater') };
  ok(admin.get('/api/admin/api-keys', 'GET /api/admin/api-keys'), 200, 'admin lists API keys');
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
  const passed = check(res, { [what]: (r) => r.status === status && (!rule || rule(body)) });
  if (!passed) console.error(`${what}: ${res.status} ${String(res.body).slice(0, 300)}`);
  return body;
}

const enc = encodeURIComponent;

export default async function (data: Data) {
  const owner = keyClient(data.owner);
  const rater = keyClient(data.rater);
  const staked: { signer: Signer; id: string }[] = [];
  try {
    // Platform
    ok(get('/health', 'GET /health'), 200, 'health is healthy', (b) => b.status === 'healthy');
    ok(get('/ready', 'GET /ready'), 200, 'ready');
    ok(get('/live', 'GET /live'), 200, 'live');
    ok(get('/api/v1/agents/health', 'GET /api/v1/agents/health'), 200, 'registry health');
    ok(get('/metrics', 'GET /metrics'), 200, 'metrics exposed', (b) => String(b).includes('ainp_'));
    ok(get('/openapi.json', 'GET /openapi.json'), 200, 'OpenAPI document', (b) => b.openapi.startsWith('3.'));

    // Registry (ERC-8004 mirror), with API keys
    const provider = await newSigner();
    const client = await newSigner();
    const p = register(owner, provider, 'k6 provider');
    const c = register(rater, client, 'k6 client');
    if (!p?.id || !c?.id) fail('registration failed: nothing else can run');
    ok(owner.get(`/api/v1/agents?q=translation&limit=5`, 'GET /api/v1/agents'), 200, 'search agents');
    ok(
      owner.get(`/api/v1/agents/${p.id}`, 'GET /api/v1/agents/{id}'),
      200,
      'get agent',
      (b) => b.did === provider.did,
    );
    ok(
      owner.patch(`/api/v1/agents/${p.id}`, 'PATCH /api/v1/agents/{id}', {
        description: 'k6 provider, updated',
      }),
      200,
      'update agent',
    );
    ok(
      owner.get(`/api/v1/agents/${p.id}/registration`, 'GET /api/v1/agents/{id}/registration'),
      200,
      'registration file',
    );

    const fb = ok(
      rater.post('/api/v1/agents/feedback', 'POST /api/v1/agents/feedback', {
        agent_id: p.id,
        value: 90,
        value_decimals: 0,
      }),
      201,
      'give feedback',
    );
    const fbPath = `/api/v1/agents/${p.id}/feedback/${data.rater.address}/${fb?.feedback_index}`;
    ok(
      owner.post(`${fbPath}/responses`, 'POST /api/v1/agents/{id}/feedback/{client}/{index}/responses', {
        response_uri: 'ipfs://k6-response',
      }),
      201,
      'respond to feedback',
    );
    ok(
      rater.post(`${fbPath}/revoke`, 'POST /api/v1/agents/{id}/feedback/{client}/{index}/revoke'),
      200,
      'revoke feedback',
    );
    ok(
      owner.get(`/api/v1/agents/${p.id}/reputation`, 'GET /api/v1/agents/{id}/reputation'),
      200,
      'registry reputation',
    );
    ok(
      rater.post('/api/v1/agents/link-payment', 'POST /api/v1/agents/link-payment', {
        agent_id: p.id,
        chain_id: 8453,
        tx_hash: hex32(),
        amount_atomic: '1500000',
        asset: 'USDC',
      }),
      201,
      'link a payment',
    );
    ok(owner.get(`/api/v1/agents/${p.id}/stats`, 'GET /api/v1/agents/{id}/stats'), 200, 'agent stats');
    const requestHash = hex32();
    ok(
      owner.post(`/api/v1/agents/${p.id}/validations`, 'POST /api/v1/agents/{id}/validations', {
        validator_address: data.rater.address,
        request_uri: 'ipfs://k6-request',
        request_hash: requestHash,
      }),
      201,
      'request a validation',
    );
    ok(
      rater.post(
        `/api/v1/agents/validations/${requestHash}/responses`,
        'POST /api/v1/agents/validations/{hash}/responses',
        {
          response: 90,
        },
      ),
      201,
      'answer a validation',
    );
    ok(
      owner.get(`/api/v1/agents/${p.id}/validations/summary`, 'GET /api/v1/agents/{id}/validations/summary'),
      200,
      'validation summary',
    );

    // Proof of usefulness: a staked committee, then settle → attest → finalize
    for (let i = 0; i < M; i++) {
      const signer = await newSigner();
      const a = register(owner, signer, `k6 auditor ${i}`);
      if (!a?.id) continue;
      staked.push({ signer, id: a.id });
      ok(
        await signed(signer, 'POST', '/api/stakes', 'POST /api/stakes', {
          amount_atomic: STAKE,
          lock_seconds: 3600,
        }),
        201,
        'stake',
      );
    }
    const neg = await intentAndOffer(client, provider, {
      description: 'k6 smoke: translate a document',
      budget: '2000000',
      price: '1200000',
    });
    const n = `/api/negotiations/${neg?.id}`;
    ok(await signed(client, 'GET', n, 'GET /api/negotiations/{id}'), 200, 'read the negotiation');
    ok(
      await signed(client, 'POST', `${n}/propose`, 'POST /api/negotiations/{id}/propose', {
        price_atomic: '1000000',
        eta_ms: 5000,
      }),
      200,
      'counter-offer',
    );
    ok(
      await signed(provider, 'POST', `${n}/accept`, 'POST /api/negotiations/{id}/accept', {}),
      200,
      'accept',
    );
    const receipt = ok(
      await signed(client, 'POST', `${n}/settle`, 'POST /api/negotiations/{id}/settle', {
        outputs_ref: 'ipfs://k6-out',
        metrics: { latency_ms: 2000 },
      }),
      201,
      'settle: a receipt with a committee',
      (b) => Array.isArray(b.committee) && b.committee.length > 0,
    );
    const r = `/api/receipts/${receipt?.task_id}`;
    ok(await signed(client, 'GET', r, 'GET /api/receipts/{task_id}'), 200, 'read the receipt');
    const committee = ok(
      get(`${r}/committee`, 'GET /api/receipts/{task_id}/committee'),
      200,
      'read the committee',
    );
    const members: string[] = committee?.committee ?? receipt?.committee ?? [];
    for (const did of members) {
      const member = staked.find((s) => s.signer.did === did);
      if (!member) continue; // an agent of an earlier run: it cannot sign here
      ok(
        await signed(
          member.signer,
          'POST',
          `${r}/attestations`,
          'POST /api/receipts/{task_id}/attestations',
          {
            type: 'AUDIT_PASS',
            score: 0.9,
            confidence: 0.8,
          },
        ),
        201,
        'attest as a committee member',
      );
    }
    ok(
      await signed(client, 'POST', `${r}/attestations`, 'POST /api/receipts/{task_id}/attestations', {
        type: 'ACCEPTED',
        score: 1,
        confidence: 1,
      }),
      201,
      'client accepts',
    );
    ok(
      await signed(client, 'GET', `${r}/attestations`, 'GET /api/receipts/{task_id}/attestations'),
      200,
      'list attestations',
    );
    ok(
      post(`${r}/finalize`, 'POST /api/receipts/{task_id}/finalize'),
      200,
      'finalize (k of m)',
      (b) => b.status === 'finalized',
    );
    ok(
      await signed(client, 'GET', `/api/reputation/${enc(provider.did)}`, 'GET /api/reputation/{did}'),
      200,
      'reputation moved',
      (b) => b.tasks_finalized >= 1,
    );

    // A second offer, rejected
    const neg2 = await intentAndOffer(client, provider, {
      description: 'k6 smoke: rejected',
      budget: '1000',
      price: '900',
    });
    ok(
      await signed(
        client,
        'POST',
        `/api/negotiations/${neg2?.id}/reject`,
        'POST /api/negotiations/{id}/reject',
        {},
      ),
      200,
      'reject',
    );

    // Usefulness, credits, discovery
    ok(
      await signed(provider, 'POST', '/api/usefulness/proofs', 'POST /api/usefulness/proofs', {
        trace_id: `k6-${Date.now()}`,
        metrics: { compute_ms: 1000, memory_mb: 5, hops: 1, checks: 1, samples: 10 },
      }),
      201,
      'usefulness proof',
    );
    ok(
      await signed(provider, 'GET', `/api/usefulness/${enc(provider.did)}`, 'GET /api/usefulness/{did}'),
      200,
      'usefulness',
    );
    ok(
      await signed(provider, 'GET', `/api/credits/${enc(provider.did)}`, 'GET /api/credits/{did}'),
      200,
      'credits',
    );
    ok(await signed(client, 'GET', '/api/discovery?q=translation', 'GET /api/discovery'), 200, 'discovery');

    // Realtime: the WebSocket upgrade with an API key
    const wsUrl = `${TARGET.replace(/^http/, 'ws')}/ws`;
    const upgrade = ws.connect(
      wsUrl,
      { headers: { Authorization: `Bearer ${data.owner.key}` }, tags: { name: 'GET /ws' } },
      (socket) => {
        socket.setTimeout(() => socket.close(), 200);
      },
    );
    check(upgrade, { 'websocket upgrade': (u) => !!u && u.status === 101 });
  } finally {
    // The auditors leave every later committee: inactive, and one is slashed (the admin endpoint).
    for (const [i, s] of staked.entries()) {
      ok(
        owner.patch(`/api/v1/agents/${s.id}`, 'PATCH /api/v1/agents/{id}', { status: 'inactive' }),
        200,
        'retire an auditor',
      );
      if (i === 0)
        ok(
          admin.post('/api/admin/slash', 'POST /api/admin/slash', {
            did: s.signer.did,
            amount_atomic: '1',
            reason: 'k6 smoke',
          }),
          200,
          'admin slash',
        );
    }
  }
}

/** Registers an agent for `signer`'s DID through an API key; returns the agent. */
function register(key: ReturnType<typeof keyClient>, signer: Signer, name: string): any {
  const res = key.post(
    '/api/v1/agents/register',
    'POST /api/v1/agents/register',
    agentBody(signer.did, name),
  );
  return ok(res, 201, `register ${name.replace(/ [0-9]+$/, '')}`);
}

/** A client's intent and a provider's offer on it; returns the negotiation. */
async function intentAndOffer(
  client: Signer,
  provider: Signer,
  o: { description: string; budget: string; price: string },
): Promise<any> {
  const intent = ok(
    await signed(client, 'POST', '/api/intents', 'POST /api/intents', {
      intent_type: 'translation',
      description: o.description,
      budget_atomic: o.budget,
      sla_ms: 10_000,
    }),
    201,
    'post an intent',
  );
  return ok(
    await signed(provider, 'POST', '/api/negotiations', 'POST /api/negotiations', {
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
