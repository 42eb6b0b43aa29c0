import { beforeAll, describe, expect, it } from 'vitest';
import { LocalCache } from '../app/data/local-cache.js';
import type { RunningBroker } from '../app/server.js';
import { agentBody, newClient } from './helpers/api.js';
import { newSigner, registerWithDid } from './helpers/ainp.js';
import { cacheCount } from './helpers/metrics.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
});

/** Polls until `read` gives `want`; every answer seen on the way is returned (oldest first). */
async function until<T>(read: () => Promise<T>, want: (v: T) => boolean, ms = 5000): Promise<T[]> {
  const seen: T[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    seen.push(v);
    if (want(v) || Date.now() > deadline) return seen;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until the broker's relay has subscribed (the cache answers only then). */
async function warm(broker: RunningBroker, kind: string, read: () => Promise<unknown>) {
  await until(
    async () => {
      await read();
      return cacheCount(broker, kind, 'local_hit');
    },
    (n) => n > 0,
  );
}

describe('in-process cache of agents and reputations (issue 16)', () => {
  it('answers repeated reads from memory and drops an agent on every replica when it changes', async () => {
    const [a, b] = [await stack.broker(), await stack.broker()];
    const owner = await newClient(a.url);
    const { body: agent } = await owner.post('/api/v1/agents/register', agentBody({ name: 'before' }));
    const onB = async () =>
      (await (
        await fetch(`${b.url}/api/v1/agents/${agent.id}`, { headers: { 'X-API-Key': owner.key } })
      ).json()) as any;
    await warm(b, 'agent', onB);
    const hits = await cacheCount(b, 'agent', 'local_hit');
    for (let i = 0; i < 5; i++) expect((await onB()).name).toBe('before');
    expect(await cacheCount(b, 'agent', 'local_hit')).toBe(hits + 5);
    // A cached agent is serialized once, and its ETag still answers a conditional GET with 304.
    const url = `${b.url}/api/v1/agents/${agent.id}`;
    const first = await fetch(url, { headers: { 'X-API-Key': owner.key } });
    const etag = first.headers.get('etag');
    expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(etag).toMatch(/^W\/"/);
    expect(((await first.json()) as { id: string }).id).toBe(agent.id);
    // (fetch adds Cache-Control: no-cache to a conditional request unless one is given.)
    const again = await fetch(url, {
      headers: { 'X-API-Key': owner.key, 'If-None-Match': etag!, 'Cache-Control': 'max-age=0' },
    });
    expect(again.status).toBe(304);

    // Changed through replica A: B drops its copy when the trigger's event arrives.
    expect((await owner.patch(`/api/v1/agents/${agent.id}`, { name: 'after' })).status).toBe(200);
    const seen = await until(onB, (v) => v.name === 'after');
    expect(seen.at(-1).name).toBe('after');
    // Read-your-writes on the replica that wrote: at once.
    expect((await owner.get(`/api/v1/agents/${agent.id}`)).body.name).toBe('after');

    // Changed behind the API's back (an operator's SQL): the trigger covers it too.
    await stack.db.query(`UPDATE agents SET description = 'edited in psql' WHERE id = $1`, [agent.id]);
    const edited = await until(onB, (v) => v.description === 'edited in psql');
    expect(edited.at(-1).description).toBe('edited in psql');
    // A bulk rank refresh changes nothing an agent read shows, and sends no event.
    const before = await stack.db.query(
      `SELECT count(*)::int AS n FROM events WHERE type = 'cache.invalidate'`,
    );
    await stack.db.query(`UPDATE agents SET rank_base = rank_base + 0 WHERE id = $1`, [agent.id]);
    await stack.db.query(`UPDATE agents SET rank_base = 0.42 WHERE id = $1`, [agent.id]);
    const after = await stack.db.query(
      `SELECT count(*)::int AS n FROM events WHERE type = 'cache.invalidate'`,
    );
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('drops a DID reputation on every replica when a reputation row changes', async () => {
    const [a, b] = [await stack.broker(), await stack.broker()];
    const owner = await newClient(a.url);
    const signer = newSigner();
    expect((await registerWithDid(a.url, owner, signer, agentBody())).status).toBe(201);
    const onB = async () =>
      (
        await fetch(`${b.url}/api/reputation/${encodeURIComponent(signer.did)}`, {
          headers: { 'X-API-Key': owner.key },
        })
      ).json() as any;
    await warm(b, 'rep', onB);
    expect((await onB()).trust_score).toBe(0.5);
    await stack.db.query(`INSERT INTO reputations (did, trust_score) VALUES ($1, 0.9)`, [signer.did]);
    expect((await until(onB, (v) => v.trust_score === 0.9)).at(-1).trust_score).toBe(0.9);
    await stack.db.query(`UPDATE reputations SET trust_score = 0.25 WHERE did = $1`, [signer.did]);
    expect((await until(onB, (v) => v.trust_score === 0.25)).at(-1).trust_score).toBe(0.25);
    // Deactivating the agent changes a reputation read too (the neutral answer needs an active agent).
    await stack.db.query(`DELETE FROM reputations WHERE did = $1`, [signer.did]);
    expect((await until(onB, (v) => v.trust_score === 0.5)).at(-1).trust_score).toBe(0.5);
    // A statement over more than 1,000 reputations sends one small event that drops everything.
    await stack.db.query(`INSERT INTO reputations (did, trust_score) VALUES ($1, 0.75)`, [signer.did]);
    expect((await until(onB, (v) => v.trust_score === 0.75)).at(-1).trust_score).toBe(0.75);
    await stack.db.query(
      `INSERT INTO reputations (did) SELECT 'did:key:zBulk' || i FROM generate_series(1, 1001) i`,
    );
    await stack.db.query(
      `UPDATE reputations SET trust_score = CASE WHEN did = $1 THEN 0.6 ELSE trust_score END
        WHERE did = $1 OR did LIKE 'did:key:zBulk%'`,
      [signer.did],
    );
    const bulk = await stack.db.query(
      `SELECT payload FROM events WHERE type = 'cache.invalidate' ORDER BY id DESC LIMIT 1`,
    );
    expect(bulk.rows[0].payload).toEqual({ all: true });
    expect((await until(onB, (v) => v.trust_score === 0.6)).at(-1).trust_score).toBe(0.6);
    await stack.db.query(`DELETE FROM reputations WHERE did LIKE 'did:key:zBulk%'`);
    await stack.db.query(`DELETE FROM reputations WHERE did = $1`, [signer.did]);
    await stack.db.query(`UPDATE agents SET status = 'inactive' WHERE did = $1`, [signer.did]);
    expect((await until(onB, (v) => v.error === 'NOT_FOUND')).at(-1).error).toBe('NOT_FOUND');
  });
});

describe('LocalCache', () => {
  const cache = () => {
    const c = new LocalCache({ ttlMs: 60_000, maxEntries: 3 });
    c.setLive(true);
    return c;
  };

  it('does not keep a value whose load was running when its key was invalidated', async () => {
    const c = cache();
    let release!: (v: string) => void;
    const slow = c.get('agent', '1', () => new Promise<string>((r) => (release = r)));
    c.invalidate(['agent:1']);
    release('old');
    expect(await slow).toBe('old'); // its own caller started before the change
    expect(await c.get('agent', '1', async () => 'new')).toBe('new');
    expect(await c.get('agent', '1', async () => 'newer')).toBe('new');
  });

  it('shares one load between concurrent reads, and answers nothing from memory while not live', async () => {
    const c = cache();
    let loads = 0;
    const load = async () => {
      loads += 1;
      await new Promise((r) => setTimeout(r, 10));
      return loads;
    };
    expect(await Promise.all([c.get('k', '1', load), c.get('k', '1', load)])).toEqual([1, 1]);
    c.setLive(false);
    expect(c.size).toBe(0);
    expect(await c.get('k', '1', load)).toBe(2);
    expect(await c.get('k', '1', load)).toBe(3);
  });

  it('holds at most maxEntries, dropping the oldest', async () => {
    const c = cache();
    for (const id of ['1', '2', '3', '4']) await c.get('k', id, async () => id);
    expect(c.size).toBe(3);
    expect(await c.get('k', '1', async () => 'reloaded')).toBe('reloaded');
    expect(await c.get('k', '4', async () => 'reloaded')).toBe('4');
  });
});
