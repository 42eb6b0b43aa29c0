/**
 * The audit's attacks of issue 31, replayed against the built broker (dist/) with its default
 * limits, each bounded in time and count, all on loopback. Prints one JSON object of counts, so
 * the same script measures a release before and after a fix (npm run build first):
 *
 *   npx tsx bench/attacks.ts [--seconds 8]
 *
 * - replay: a captured signed intent replayed to two replicas while Valkey is down and after it is
 *   back (20 sends each way), plus one sent during the outage and replayed after: 201s counted.
 * - farm: five self-dealt rounds (a fresh client DID, budget and price at the lowest the broker
 *   takes, the client's ACCEPTED alone finalizing), then a usefulness proof, the aggregator and the
 *   credits job: the provider's trust, the proof's status and what the reward window paid it.
 * - flood: from one address for `seconds` each, 20 at a time: intents from fresh DIDs with no funds,
 *   requests with made-up API keys (and the api_keys index scans they cost), then 2,000 WebSocket
 *   connects from fresh DIDs, kept open; /live's p95 alone and during the made-up-key flood.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { WebSocket } from 'ws';
import { newSigner, signedHeaders, type Signer } from '../app/domain/did-signing.js';
import { startRedisServer, type LocalService } from '../app/local/child-service.js';
import { freePort } from '../app/local/free-port.js';
import { ADMIN_TOKEN } from '../test/helpers/admin-token.js';
import { benchServices, startBroker } from './services.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' } } });
const seconds = Number(values.seconds);

// The fields read here are strings or numbers, only printed or sent back.
const json = async (res: Response) => ({
  status: res.status,
  body: (await res.json().catch(() => ({}))) as Record<string, string>,
});
const admin = (url: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then(json);
const fund = (url: string, did: string, amount: string) =>
  admin(url, '/api/admin/deposits', { did, amount_atomic: amount, reference: `attack-${Math.random()}` });

function capture(s: Signer, method: string, path: string, body?: unknown) {
  const raw = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = { ...signedHeaders(s, method, path, raw) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return { method, path, headers, body: body === undefined ? undefined : raw };
}
const send = (url: string, c: ReturnType<typeof capture>, extra: Record<string, string> = {}) =>
  fetch(`${url}${c.path}`, { method: c.method, headers: { ...c.headers, ...extra }, body: c.body }).then(
    json,
  );
const signed = (url: string, s: Signer, method: string, path: string, body?: unknown) =>
  send(url, capture(s, method, path, body));

/** The lowest budget the broker takes: 0 before the minimum price, else the minimum. */
async function lowestPrice(url: string, client: Signer): Promise<string> {
  for (const budget of ['0', '10', '1000']) {
    await fund(url, client.did, budget === '0' ? '1' : budget);
    const res = await signed(url, client, 'POST', '/api/intents', {
      intent_type: 'x',
      description: 'probe',
      budget_atomic: budget,
    });
    if (res.status === 201) return budget;
  }
  throw new Error('no budget accepted');
}

async function replay(services: Awaited<ReturnType<typeof benchServices>>) {
  const port = await freePort();
  let redis: LocalService | undefined = (await startRedisServer(
    `${process.cwd()}/.test-data/attack-redis-${port}`,
    port,
  ))!;
  const env = { REDIS_URL: `redis://127.0.0.1:${port}` };
  const [a, b] = [await startBroker(services, env), await startBroker(services, env)];
  try {
    const client = newSigner();
    await fund(a.url, client.did, '1000000');
    const intent = { intent_type: 'x', description: 'captured', budget_atomic: '1000' };
    const before = capture(client, 'POST', '/api/intents', intent);
    const first = (await send(a.url, before)).status;
    await redis.stop();
    redis = undefined;
    await new Promise((r) => setTimeout(r, 1500));
    let acceptedDuringOutage = 0;
    for (let i = 0; i < 20; i++)
      for (const broker of [a, b])
        if ((await send(broker.url, before)).status === 201) acceptedDuringOutage += 1;
    const during = capture(client, 'POST', '/api/intents', {
      ...intent,
      description: 'sent during the outage',
    });
    const duringFirst = (await send(a.url, during)).status;
    redis = await startRedisServer(`${process.cwd()}/.test-data/attack-redis-${port}`, port);
    await new Promise((r) => setTimeout(r, 1500));
    let acceptedAfter = 0;
    for (let i = 0; i < 10; i++)
      for (const c of [before, during])
        for (const broker of [a, b]) if ((await send(broker.url, c)).status === 201) acceptedAfter += 1;
    return {
      first,
      replays_accepted_during_outage: `${acceptedDuringOutage} of 40`,
      sent_during_outage: duringFirst,
      replays_accepted_after_valkey_returned: `${acceptedAfter} of 40`,
    };
  } finally {
    await Promise.allSettled([a.stop(), b.stop(), redis?.stop()]);
  }
}

async function farm(services: Awaited<ReturnType<typeof benchServices>>) {
  const broker = await startBroker(services);
  try {
    const key = await admin(broker.url, '/api/admin/api-keys', {
      name: 'farm',
      address: `0x${'fa'.repeat(20)}`,
    });
    const provider = newSigner();
    const raw = JSON.stringify({
      name: 'farmer',
      description: 'farms',
      chain_id: 8453,
      did: provider.did,
      services: [],
      supported_trust: ['reputation'],
    });
    await fetch(`${broker.url}/api/v1/agents/register`, {
      method: 'POST',
      headers: {
        ...signedHeaders(provider, 'POST', '/api/v1/agents/register', raw),
        'X-API-Key': key.body.key,
        'Content-Type': 'application/json',
      },
      body: raw,
    });
    const price = await lowestPrice(broker.url, newSigner());
    const zeroBudget = (
      await signed(broker.url, newSigner(), 'POST', '/api/intents', {
        intent_type: 'x',
        description: 'farm',
        budget_atomic: '0',
      })
    ).status;
    const receipts: string[] = [];
    let spent = 0n;
    for (let i = 0; i < 5; i++) {
      const client = newSigner();
      await fund(broker.url, client.did, price === '0' ? '1' : price);
      spent += BigInt(price);
      const intent = await signed(broker.url, client, 'POST', '/api/intents', {
        intent_type: 'x',
        description: `farm ${i}`,
        budget_atomic: price,
      });
      const neg = await signed(broker.url, provider, 'POST', '/api/negotiations', {
        intent_id: intent.body.id,
        price_atomic: price,
        eta_ms: 1,
      });
      await signed(broker.url, client, 'POST', `/api/negotiations/${neg.body.id}/accept`, {});
      const receipt = await signed(broker.url, client, 'POST', `/api/negotiations/${neg.body.id}/settle`, {
        metrics: { latency_ms: 1 },
      });
      await signed(broker.url, client, 'POST', `/api/receipts/${receipt.body.task_id}/attestations`, {
        type: 'ACCEPTED',
        score: 1,
        confidence: 1,
      });
      await fetch(`${broker.url}/api/receipts/${receipt.body.task_id}/finalize`, { method: 'POST' });
      receipts.push(String(receipt.body.task_id));
    }
    const metrics = { compute_ms: 9000, memory_mb: 8, hops: 0, checks: 0, samples: 0 }; // 98: under the burst flag
    const proofs = [];
    for (const task of receipts)
      proofs.push(
        (
          await signed(broker.url, provider, 'POST', '/api/usefulness/proofs', {
            trace_id: `farm-${task}`,
            task_id: task,
            metrics,
          })
        ).status,
      );
    const rep = await signed(
      broker.url,
      newSigner(),
      'GET',
      `/api/reputation/${encodeURIComponent(provider.did)}`,
    );
    for (const job of ['aggregator', 'credits']) await runJob(services, job);
    const credits = await signed(
      broker.url,
      newSigner(),
      'GET',
      `/api/credits/${encodeURIComponent(provider.did)}`,
    );
    const db = new pg.Pool({ connectionString: services.databaseUrl, max: 1 });
    const reward = await db.query(
      `SELECT coalesce(sum(amount_atomic), 0)::text AS r FROM ledger_transfers WHERE kind = 'reward' AND credit_account = $1`,
      [`available:${provider.did}`],
    );
    await db.end();
    return {
      zero_budget_intent: zeroBudget,
      lowest_price_taken: price,
      trust_after_5_rounds: rep.body.trust_score,
      proofs,
      reward_paid_to_provider: reward.rows[0].r,
      spent_by_clients: String(spent),
      provider_available: credits.body.available,
    };
  } finally {
    await broker.stop();
  }
}

function runJob(services: Awaited<ReturnType<typeof benchServices>>, name: string) {
  return new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['dist/app/main.js', 'job', name], {
      env: {
        ...process.env,
        DATABASE_URL: services.databaseUrl,
        REDIS_URL: services.redisUrl,
        NATS_URL: services.natsUrl,
        LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    child.once('exit', resolve);
  });
}

/** Runs `fn` 20 at a time for `ms`; counts the statuses it returns. */
async function flood(ms: number, fn: () => Promise<number>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (Date.now() < end) {
        const s = String(await fn().catch(() => 0));
        counts[s] = (counts[s] ?? 0) + 1;
      }
    }),
  );
  return counts;
}

async function liveP95(url: string, ms: number): Promise<number> {
  const times: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const t = performance.now();
    await fetch(`${url}/live`);
    times.push(performance.now() - t);
  }
  times.sort((x, y) => x - y);
  return Math.round(times[Math.floor(times.length * 0.95)]! * 10) / 10;
}

async function search(services: Awaited<ReturnType<typeof benchServices>>) {
  const broker = await startBroker(services);
  try {
    const key = await admin(broker.url, '/api/admin/api-keys', {
      name: 'search',
      address: `0x${'5e'.repeat(20)}`,
    });
    const errors = async () => {
      const m = /^ainp_db_errors_total (\d+)/m.exec(await (await fetch(`${broker.url}/metrics`)).text());
      return Number(m?.[1] ?? 0);
    };
    const before = await errors();
    const statuses: number[] = [];
    for (const q of ['-'.repeat(33), `${'- '.repeat(40)}x`])
      statuses.push(
        (
          await fetch(`${broker.url}/api/v1/agents?q=${encodeURIComponent(q)}`, {
            headers: { 'X-API-Key': key.body.key! },
          })
        ).status,
      );
    return { dashes_33_and_40_spaced: statuses, db_errors_counted: (await errors()) - before };
  } finally {
    await broker.stop();
  }
}

async function floods(services: Awaited<ReturnType<typeof benchServices>>) {
  const broker = await startBroker(services);
  const db = new pg.Pool({ connectionString: services.databaseUrl, max: 1 });
  const keyScans = async () =>
    Number(
      (
        await db.query(
          `SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) AS n FROM pg_stat_user_tables WHERE relname = 'api_keys'`,
        )
      ).rows[0].n,
    );
  try {
    const ms = seconds * 1000;
    const idle = await liveP95(broker.url, 2000);
    const intents = await flood(
      ms,
      async () =>
        (
          await signed(broker.url, newSigner(), 'POST', '/api/intents', {
            intent_type: 'x',
            description: 'flood',
            budget_atomic: '1000',
          })
        ).status,
    );
    // Before the made-up keys: refused connects count against the same refused-authentication budget.
    // Each from a fresh DID (its own identity, so the per-identity cap of 10 never applies), kept open.
    let opened = 0;
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 2000; i++) {
      const ws = new WebSocket(`${broker.url.replace('http', 'ws')}/ws`, {
        headers: signedHeaders(newSigner(), 'GET', '/ws', ''),
      });
      sockets.push(ws);
      opened += await new Promise<number>((resolve) => {
        ws.once('open', () => resolve(1));
        ws.once('unexpected-response', () => resolve(0));
        ws.once('error', () => resolve(0));
      });
    }
    for (const ws of sockets) ws.terminate();
    await new Promise((r) => setTimeout(r, 1000)); // pg_stat counters are sent at most once a second
    const scansBefore = await keyScans();
    const [keys, liveDuring] = await Promise.all([
      flood(
        ms,
        async () =>
          (
            await fetch(`${broker.url}/api/v1/agents?limit=1`, {
              headers: { 'X-API-Key': Math.random().toString(36).repeat(3) },
            })
          ).status,
      ),
      liveP95(broker.url, ms),
    ]);
    await new Promise((r) => setTimeout(r, 1500));
    const scans = (await keyScans()) - scansBefore;
    return {
      fresh_did_intents: intents,
      made_up_keys: keys,
      api_keys_scans_during_made_up_keys: scans,
      websocket_connects_opened: `${opened} of 2000`,
      live_p95_ms_idle: idle,
      live_p95_ms_during_made_up_keys: liveDuring,
    };
  } finally {
    await db.end();
    await broker.stop();
  }
}

const services = await benchServices();
try {
  const out = {
    seconds,
    replay: await replay(services),
    farm: await farm(services),
    search: await search(services),
    flood: await floods(services),
  };
  console.log(JSON.stringify(out, null, 2));
} finally {
  await services.stop();
}
