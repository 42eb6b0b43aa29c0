import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../app/server.js';
import { agentBody, newClient, type Client } from './helpers/api.js';
import { newSigner } from './helpers/ainp.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

// Plain registrations are answered in front of Express (app/http/fast-register.ts): the answer must
// be the full chain's. `fast` keeps the short path, `full` has it off; same database, same limits.
let stack: TestStack;
let fast: RunningBroker;
let full: RunningBroker;
let owner: Client;
// A batch of 20 hits (10 % of 200) may be admitted in process: below 2 hits every hit syncs with
// Valkey first, and the short path (which only takes a hit admitted in process) never answers.
const LIMITS = { RATE_LIMIT_REGISTER: '200', RATE_LIMIT_SYNC_PERCENT: '10', RATE_LIMIT_IP_WRITE: '100000' };
beforeAll(async () => {
  stack = await createTestStack();
  fast = await stack.broker(LIMITS);
  full = await stack.broker({ ...LIMITS, HTTP_FAST_REGISTER: 'false' });
  owner = await newClient(fast.url);
});

/** The broker's ainp_http_short_path_total for registrations, from /metrics. */
async function shortCount(broker: RunningBroker): Promise<number> {
  const text = await (await fetch(`${broker.url}/metrics`)).text();
  const m = /^ainp_http_short_path_total\{route="\/api\/v1\/agents\/register"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

const post = (broker: RunningBroker, body: string, headers: Record<string, string> = {}, key = owner.key) =>
  fetch(`${broker.url}/api/v1/agents/register`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', ...headers },
    body,
  });

/** Everything a response says but Date and the seconds until the window resets. */
async function answer(res: Response) {
  const headers = Object.fromEntries(
    [...res.headers].filter(([k]) => k !== 'date' && k !== 'ratelimit-reset'),
  );
  return { status: res.status, headers, body: await res.text() };
}

/** Registers (each 201) until `broker` answers one on the short path; returns how many it took. */
async function untilShort(broker: RunningBroker): Promise<number> {
  const before = await shortCount(broker);
  for (let i = 1; i <= 20; i++) {
    const res = await post(broker, JSON.stringify(agentBody({ name: `warm ${i}` })));
    if (res.status !== 201) throw new Error(`warm-up ${i}: ${res.status} ${await res.text()}`);
    if ((await shortCount(broker)) > before) return i;
  }
  throw new Error('the short path never answered');
}

describe('POST /api/v1/agents/register in front of Express', () => {
  it('answers a plain registration as the full chain does: status, headers, body, metrics', async () => {
    expect(await untilShort(fast)).toBeLessThanOrEqual(20);
    await untilShort(full).catch(() => undefined); // the same warm-up (its counter stays at 0)
    const body = JSON.stringify(agentBody({ name: 'parity', tags: ['finance', 'legal'] }));
    const shortBefore = await shortCount(fast);
    const [a, b] = [
      await answer(await post(fast, body, { 'X-Request-ID': 'parity-1' })),
      await answer(await post(full, body, { 'X-Request-ID': 'parity-1' })),
    ];
    expect(await shortCount(fast)).toBe(shortBefore + 1);
    expect(await shortCount(full)).toBe(0);
    expect(a.status).toBe(201);
    // The agent's own fields differ (id, number, times, and so length and ETag); all else is equal.
    const own = ['etag', 'content-length', 'ratelimit-remaining'];
    const strip = (h: Record<string, string>) =>
      Object.fromEntries(Object.entries(h).filter(([k]) => !own.includes(k)));
    expect(strip(a.headers)).toEqual(strip(b.headers));
    expect(a.headers['x-request-id']).toBe('parity-1');
    expect(a.headers.etag).toMatch(/^W\/"[0-9a-f]+-/);
    expect(Number(a.headers['content-length'])).toBe(Buffer.byteLength(a.body));
    const [ja, jb] = [JSON.parse(a.body), JSON.parse(b.body)];
    expect(Object.keys(ja)).toEqual(Object.keys(jb));
    const mine = ['id', 'agent_id', 'created_at', 'updated_at', 'registered_at'];
    const same = (j: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(j).filter(([k]) => !mine.includes(k)));
    expect(same(ja)).toEqual(same(jb));
    // Stored, readable, and counted under the route's template.
    expect((await owner.get(`/api/v1/agents/${ja.id}`)).body.name).toBe('parity');
    const metrics = await (await fetch(`${fast.url}/metrics`)).text();
    expect(metrics).toMatch(
      /ainp_http_requests_total\{method="POST",route="\/api\/v1\/agents\/register",status="201"\} \d+/,
    );
  });

  it('hands every other case to the app with its body, which answers exactly as the full chain', async () => {
    await untilShort(fast);
    const other = newSigner();
    const cases: Array<[string, string]> = [
      ['a body that is not JSON', '{"name": '],
      ['a body that is not an object', '"x"'],
      ['a missing name', JSON.stringify({ ...agentBody(), name: undefined })],
      ['an unknown field', JSON.stringify(agentBody({ surprise: 1 }))],
      ['a NUL in a string', JSON.stringify(agentBody({ name: 'a\u0000b' }))],
      ['a lone surrogate', `{"name":"\\ud800","description":"d","chain_id":8453}`],
      ['another owner', JSON.stringify(agentBody({ owner_address: '0x' + '1'.repeat(40) }))],
      ['a DID without its proof', JSON.stringify(agentBody({ did: other.did }))],
    ];
    const shortBefore = await shortCount(fast);
    for (const [what, body] of cases) {
      const [a, b] = [
        await answer(await post(fast, body, { 'X-Request-ID': 'case-1' })),
        await answer(await post(full, body, { 'X-Request-ID': 'case-1' })),
      ];
      expect(a.status, what).toBeGreaterThanOrEqual(400);
      expect(a.status, what).toBeLessThan(500);
      const strip = (h: Record<string, string>) =>
        Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'ratelimit-remaining'));
      expect({ ...a, headers: strip(a.headers) }, what).toEqual({ ...b, headers: strip(b.headers) });
    }
    // None of them was answered on the short path.
    expect(await shortCount(fast)).toBe(shortBefore);
  });

  it('counts every registration against the key once: the limit holds on both paths together', async () => {
    const client = await newClient(fast.url);
    const statuses: number[] = [];
    const shortBefore = await shortCount(fast);
    for (let i = 0; i < 206; i++)
      statuses.push(
        (await post(fast, JSON.stringify(agentBody({ name: `limit ${i}` })), {}, client.key)).status,
      );
    expect(statuses.filter((s) => s === 201)).toHaveLength(200);
    expect(statuses.slice(200)).toEqual([429, 429, 429, 429, 429, 429]);
    // Most of them were answered on the short path.
    expect((await shortCount(fast)) - shortBefore).toBeGreaterThan(100);
  });
});
