import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { connect as natsConnect } from 'nats';
import { WebSocket } from 'ws';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  appendEvents,
  markPublished,
  NUMBER_LOCK,
  numberEvents,
  outboxBacklog,
  PUBLISH_LOCK,
} from '../app/data/event-repository.js';
import { signedHeaders } from '../app/domain/did-signing.js';
import { startNatsServer } from '../app/local/child-service.js';
import { freePort } from '../app/local/free-port.js';
import type { RunningBroker } from '../app/server.js';
import { call, newClient, randomAddress } from './helpers/api.js';
import { newSigner, registeredAgent, settledReceipt, signed, type Signer } from './helpers/ainp.js';
import { ADMIN_TOKEN, createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let a: RunningBroker;
let b: RunningBroker;
let provider: Signer;

beforeAll(async () => {
  stack = await createTestStack();
  [a, b] = [await stack.broker(), await stack.broker()];
  provider = (await registeredAgent(b.url, await newClient(b.url))).signer;
});

interface Received {
  id: string;
  event_id: string;
  type: string;
}

function connect(base: string, signer: Signer, lastEventId?: string) {
  const p = `/ws${lastEventId ? `?last_event_id=${lastEventId}` : ''}`;
  const ws = new WebSocket(base.replace('http', 'ws') + p, { headers: signedHeaders(signer, 'GET', p, '') });
  const received: Received[] = [];
  ws.on('message', (data) => received.push(JSON.parse(String(data))));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return { ws, received, opened };
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The event_ids of a DID's events numbered after `afterId` (an event's public id), in stream order. */
async function eventIdsFor(did: string, afterId = '0'): Promise<string[]> {
  const { rows } = await stack.db.query(
    `SELECT event_id FROM events WHERE $1 = ANY(recipients) AND seq > $2 ORDER BY seq`,
    [did, afterId],
  );
  return rows.map((r) => r.event_id);
}

/**
 * `count` events for `did` numbered and counted as published while no relay can number or publish
 * (this test holds both locks), so none of them goes through NATS: as if another replica had
 * published them, or their messages had been lost.
 */
async function publishedPastNats(did: string, type: string, count: number): Promise<void> {
  const c = await stack.db.connect();
  try {
    await c.query('SELECT pg_advisory_lock($1), pg_advisory_lock($2)', [NUMBER_LOCK, PUBLISH_LOCK]);
    await c.query(
      `INSERT INTO events (type, recipients, payload)
       SELECT $1, $2, jsonb_build_object('n', g) FROM generate_series(1, $3::int) g`,
      [type, [did], count],
    );
    while ((await numberEvents(c, 500)) > 0);
    await markPublished(c, (await c.query(`SELECT max(seq)::text AS m FROM events`)).rows[0].m);
  } finally {
    await c.query('SELECT pg_advisory_unlock_all()');
    c.release();
  }
}

/**
 * Two events for `did` whose inserts commit out of order: `early` takes its insert id first but
 * commits only when `commitEarly` is called; `late` takes the next id and commits at once.
 */
async function outOfOrderEvents(did: string) {
  const [early, late] = [await stack.db.connect(), await stack.db.connect()];
  const tag = randomUUID();
  try {
    await early.query('BEGIN');
    await late.query('BEGIN');
    await appendEvents(early, [{ type: 'test.early', recipients: [did], payload: { tag } }]);
    await appendEvents(late, [{ type: 'test.late', recipients: [did], payload: { tag } }]);
    await late.query('COMMIT');
  } catch (err) {
    early.release();
    late.release();
    throw err;
  }
  late.release();
  return {
    async commitEarly() {
      try {
        await early.query('COMMIT');
      } finally {
        early.release();
      }
    },
    /** The two events' insert ids and numbers, `early` first. */
    async ids() {
      const { rows } = await stack.db.query(
        `SELECT type, id::text, seq::text, seq <= (SELECT published_upto FROM event_stream) AS published
           FROM events WHERE payload->>'tag' = $1 ORDER BY type`,
        [tag],
      );
      return rows as { type: string; id: string; seq: string | null; published: boolean }[];
    },
  };
}

describe('GET /ws', () => {
  it('connects an API key for its address and the agents it owns, and closes with 1001 on shutdown', async () => {
    const broker = await stack.broker();
    const owner = await newClient(broker.url);
    const agent = (await registeredAgent(broker.url, owner)).signer;
    const ws = new WebSocket(broker.url.replace('http', 'ws') + '/ws', {
      headers: { 'X-API-Key': owner.key },
    });
    const received: Received[] = [];
    ws.on('message', (d) => received.push(JSON.parse(String(d))));
    await new Promise((r) => ws.once('open', r));
    await settledReceipt(b.url, newSigner(), agent);
    await until(() => received.some((e) => e.type === 'receipt.created'));
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    await broker.stop();
    expect(await closed).toBe(1001);
  });

  it('delivers to a client on one replica what happened through the other', async () => {
    const client = newSigner();
    const c = connect(a.url, client);
    await c.opened;
    const receipt = await settledReceipt(b.url, client, provider);
    await until(() => c.received.some((e) => e.type === 'receipt.created'));
    expect(c.received.map((e) => e.type)).toEqual([
      'negotiation.proposed',
      'negotiation.accepted',
      'negotiation.settled',
      'receipt.created',
    ]);
    expect(c.received.map((e) => e.event_id)).toEqual(await eventIdsFor(client.did));
    expect(receipt.committee_shortfall).toBe(true);
    c.ws.close();
  });

  it('resumes after a reconnect with exactly the events missed', async () => {
    const client = newSigner();
    const first = connect(a.url, client);
    await first.opened;
    const receipt = await settledReceipt(b.url, client, provider);
    await until(() => first.received.length === 4);
    const last = first.received[3]!.id;
    first.ws.close();
    await signed(b.url, client, 'POST', `/api/receipts/${receipt.task_id}/attestations`, {
      type: 'ACCEPTED',
      score: 1,
      confidence: 1,
    });
    await fetch(`${b.url}/api/receipts/${receipt.task_id}/finalize`, { method: 'POST' });
    const again = connect(a.url, client, last);
    await again.opened;
    await until(() => again.received.length >= 2);
    await new Promise((r) => setTimeout(r, 300)); // nothing more, nothing twice
    expect(again.received.map((e) => e.type)).toEqual(['attestation.submitted', 'receipt.finalized']);
    expect(again.received.map((e) => e.event_id)).toEqual(await eventIdsFor(client.did, last));
    again.ws.close();
  });

  it('pages a long resume: WS_RESUME_LIMIT events, then 1013 naming where to go on, and the rest on reconnect', async () => {
    const paged = await stack.broker({ WS_RESUME_LIMIT: '3' });
    try {
      const client = newSigner();
      await settledReceipt(b.url, client, provider);
      // The client was away for all of them (it resumes from 0): 4 events, sent 3 then 1, once the
      // relay has numbered them (a resume reads numbered events only).
      await until(async () => (await eventIdsFor(client.did)).length === 4);
      const all = await eventIdsFor(client.did);
      const first = connect(paged.url, client, '0');
      const closed = new Promise<[number, string]>((r) =>
        first.ws.once('close', (code, reason) => r([code, String(reason)])),
      );
      await first.opened;
      const [code, reason] = await closed;
      expect(first.received.map((e) => e.event_id)).toEqual(all.slice(0, 3));
      const last = first.received[2]!.id;
      expect([code, reason]).toEqual([1013, `resume continues: reconnect with last_event_id=${last}`]);
      const again = connect(paged.url, client, last);
      await again.opened;
      await until(() => again.received.length >= 1);
      await new Promise((r) => setTimeout(r, 300)); // nothing more, nothing twice; the socket stays open
      expect(again.received.map((e) => e.event_id)).toEqual(all.slice(3));
      expect(again.ws.readyState).toBe(WebSocket.OPEN);
      again.ws.close();
    } finally {
      await paged.stop();
    }
  });

  it('resumes without a gap when an event with an earlier insert id commits after the client left', async () => {
    const client = newSigner();
    const first = connect(a.url, client);
    await first.opened;
    const pair = await outOfOrderEvents(client.did);
    await until(() => first.received.length === 1);
    const last = first.received[0]!.id;
    const closed = new Promise((r) => first.ws.once('close', r));
    first.ws.close();
    await closed;
    await pair.commitEarly();
    // Published while the client is away: it can only come back through the resume.
    await until(async () => (await pair.ids()).every((e) => e.published));
    const again = connect(a.url, client, last);
    await again.opened;
    await until(() => again.received.length >= 1);
    await new Promise((r) => setTimeout(r, 300)); // nothing more, nothing twice
    expect(first.received.map((e) => e.type)).toEqual(['test.late']);
    expect(again.received.map((e) => e.type)).toEqual(['test.early']);
    // The insert ids are out of commit order; the numbers clients see follow the commits.
    const [early, late] = await pair.ids();
    expect(BigInt(early!.id)).toBeLessThan(BigInt(late!.id));
    expect(late!.seq).toBe(last);
    expect(BigInt(early!.seq!)).toBeGreaterThan(BigInt(late!.seq!));
    again.ws.close();
  });

  it('without NATS, delivers from the database an event that commits after a later insert id was delivered', async () => {
    const alone = await stack.broker({ NATS_URL: undefined });
    try {
      const client = newSigner();
      const c = connect(alone.url, client);
      await c.opened;
      const pair = await outOfOrderEvents(client.did);
      await until(() => c.received.length === 1);
      await pair.commitEarly();
      await until(() => c.received.length >= 2);
      await new Promise((r) => setTimeout(r, 300));
      expect(c.received.map((e) => e.type)).toEqual(['test.late', 'test.early']);
      const [early, late] = await pair.ids();
      expect(BigInt(early!.id)).toBeLessThan(BigInt(late!.id));
      expect(c.received.map((e) => e.id)).toEqual([late!.seq, early!.seq]);
      c.ws.close();
    } finally {
      await alone.stop();
    }
  });

  it('with NATS down here but not elsewhere, delivers from the database what another replica published', async () => {
    const cut = await stack.broker({ NATS_URL: `nats://127.0.0.1:${await freePort()}` });
    try {
      const client = newSigner();
      const c = connect(cut.url, client);
      await c.opened;
      // Database delivery starts where the replica's relay read the stream on its first pass,
      // which under load can come after the socket opened (what committed before that is for
      // resume only): an event through the database path every 250 ms until one arrives.
      let appended = 0;
      await until(async () => {
        if (c.received.length) return true;
        if (Date.now() - appended > 250) {
          appended = Date.now();
          await appendEvents(stack.db, [{ type: 'test.warm', recipients: [client.did], payload: {} }]);
        }
        return false;
      });
      const first = c.received[0]!;
      // Published already (by a replica whose NATS is up): they never come through NATS here.
      await publishedPastNats(client.did, 'test.elsewhere', 2);
      await until(() => c.received.filter((e) => e.type === 'test.elsewhere').length >= 2);
      await new Promise((r) => setTimeout(r, 300));
      // Everything after the first arrival, each once and in order.
      expect(c.received.map((e) => e.event_id)).toEqual([
        first.event_id,
        ...(await eventIdsFor(client.did, String(first.id))),
      ]);
      c.ws.close();
    } finally {
      await cut.stop();
    }
  });

  it('reads from the database the events NATS did not bring, once a later number arrives', async () => {
    const client = newSigner();
    const c = connect(a.url, client);
    await c.opened;
    // The replica is subscribed and past its first pass (which reads the database once anyway).
    await appendEvents(stack.db, [{ type: 'test.warm', recipients: [client.did], payload: {} }]);
    await until(() => c.received.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    // Two events counted as published that never reach NATS (as if their messages were lost),
    // then one that is published: its number shows the replica that two came before it.
    await publishedPastNats(client.did, 'test.lost', 2);
    await appendEvents(stack.db, [{ type: 'test.published', recipients: [client.did], payload: {} }]);
    await until(() => c.received.length >= 4);
    await new Promise((r) => setTimeout(r, 300)); // nothing twice
    expect(c.received.map((e) => e.type).sort()).toEqual([
      'test.lost',
      'test.lost',
      'test.published',
      'test.warm',
    ]);
    expect(c.received.map((e) => e.event_id).sort()).toEqual((await eventIdsFor(client.did)).sort());
    c.ws.close();
  });

  it('hands on a message from a release that numbered nothing (a rolling upgrade) without counting its id', async () => {
    const client = newSigner();
    const c = connect(a.url, client);
    await c.opened;
    const nc = await natsConnect({ servers: stack.nats.url });
    try {
      // The replica is subscribed (a message published before that would not reach it).
      await appendEvents(stack.db, [{ type: 'test.warm', recipients: [client.did], payload: {} }]);
      await until(() => c.received.length === 1);
      // An insert id equal to the number the second event below will get: counted as a number, it
      // would make the replica drop that event as already handed on.
      await until(
        async () => (await stack.db.query(`SELECT 1 FROM events WHERE seq IS NULL`)).rowCount === 0,
      );
      const max = (await stack.db.query(`SELECT coalesce(max(seq), 0)::text AS m FROM events`)).rows[0]
        .m as string;
      const legacy = {
        id: String(BigInt(max) + 2n),
        event_id: randomUUID(),
        type: 'test.legacy',
        recipients: [client.did],
        payload: {},
        created_at: new Date().toISOString(),
      };
      nc.publish('ainp.events.test.junk', 'not JSON'); // ignored, and the relay goes on
      nc.publish('ainp.events.test.legacy', JSON.stringify(legacy));
      await nc.flush();
      await until(() => c.received.length === 2);
      for (const n of [1, 2])
        await appendEvents(stack.db, [{ type: 'test.numbered', recipients: [client.did], payload: { n } }]);
      await until(() => c.received.length >= 4);
      await new Promise((r) => setTimeout(r, 300));
      expect(c.received.slice(1).map((e) => [e.type, e.id])).toEqual([
        ['test.legacy', legacy.id],
        ['test.numbered', String(BigInt(max) + 1n)],
        ['test.numbered', legacy.id],
      ]);
    } finally {
      await nc.close();
      c.ws.close();
    }
  });

  it('loses and doubles nothing when NATS stops and returns mid-flow', async () => {
    const client = newSigner();
    const c = connect(a.url, client);
    await c.opened;
    await stack.nats.stop();
    const receipt = await settledReceipt(b.url, client, provider);
    await signed(b.url, client, 'POST', `/api/receipts/${receipt.task_id}/attestations`, {
      type: 'ACCEPTED',
      score: 1,
      confidence: 1,
    });
    // Same process delivery without NATS: from the outbox in the database.
    await until(() => c.received.length === 5);
    expect(await outboxBacklog(stack.db)).toBeGreaterThanOrEqual(5);

    const nats = await startNatsServer(path.join(stack.dir, 'nats'), stack.nats.port);
    await until(async () => (await outboxBacklog(stack.db)) === 0, 20_000);
    await fetch(`${b.url}/api/receipts/${receipt.task_id}/finalize`, { method: 'POST' });
    await until(() => c.received.some((e) => e.type === 'receipt.finalized'));
    await new Promise((r) => setTimeout(r, 500));
    const ids = c.received.map((e) => e.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(await eventIdsFor(client.did));
    c.ws.close();
    await nats!.stop();
  });

  it('drops a connection that stops answering pings, and counts connections and events in /metrics', async () => {
    const broker = await stack.broker({ WS_PING_INTERVAL_MS: '200' });
    const gauge = async () =>
      Number(/ainp_ws_connections (\d+)/.exec(await (await fetch(`${broker.url}/metrics`)).text())![1]);
    const c = connect(broker.url, newSigner());
    await c.opened;
    expect(await gauge()).toBe(1);
    // A client that no longer reads (a dead peer) never answers the server's ping.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await until(async () => (await gauge()) === 0, 5000);
    const text = await (await fetch(`${a.url}/metrics`)).text();
    expect(Number(/ainp_events_delivered_total (\d+)/.exec(text)![1])).toBeGreaterThan(0);
    expect(text).toMatch(/ainp_outbox_backlog \d+/);
    const published = await Promise.all(
      [a, b].map(async (x) =>
        Number(/ainp_events_published_total (\d+)/.exec(await (await fetch(`${x.url}/metrics`)).text())![1]),
      ),
    );
    expect(published[0]! + published[1]!).toBeGreaterThan(0);
    c.ws.terminate();
  });

  it('refuses a connection without credentials or with a forged signature', async () => {
    const none = new WebSocket(a.url.replace('http', 'ws') + '/ws');
    await expect(
      new Promise((_, reject) =>
        none.once('unexpected-response', (_r, res) => reject(new Error(`HTTP ${res.statusCode}`))),
      ),
    ).rejects.toThrow('HTTP 401');
    const victim = newSigner();
    const forged = new WebSocket(a.url.replace('http', 'ws') + '/ws', {
      headers: { ...signedHeaders(newSigner(), 'GET', '/ws', ''), 'X-AINP-DID': victim.did },
    });
    await expect(
      new Promise((_, reject) =>
        forged.once('unexpected-response', (_r, res) => reject(new Error(`HTTP ${res.statusCode}`))),
      ),
    ).rejects.toThrow('HTTP 401');
  });
});

describe('WebSocket limits (SPEC section 10)', () => {
  let c: RunningBroker;
  let d: RunningBroker;
  beforeAll(async () => {
    const limits = { WS_MAX_CONNECTIONS_PER_IDENTITY: '3', WS_REVOCATION_CHECK_MS: '500' };
    [c, d] = [await stack.broker(limits), await stack.broker(limits)];
  });

  const newKey = async () => {
    const res = await call(c.url, 'POST', '/api/admin/api-keys', {
      token: ADMIN_TOKEN,
      body: { name: 'ws limits', address: randomAddress() },
    });
    return res.body as { id: string; key: string };
  };
  /** Opens a socket with an API key; resolves with it open, or rejects with the HTTP status. */
  const open = (base: string, key: string) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(base.replace('http', 'ws') + '/ws', { headers: { 'X-API-Key': key } });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });

  it('holds an identity to WS_MAX_CONNECTIONS_PER_IDENTITY sockets per replica: one more is 429', async () => {
    const k = await newKey();
    const three = [await open(c.url, k.key), await open(c.url, k.key), await open(c.url, k.key)];
    await expect(open(c.url, k.key)).rejects.toThrow('HTTP 429');
    const other = await open(c.url, (await newKey()).key); // another key has its own slots
    three[0]!.terminate();
    await until(async () =>
      open(c.url, k.key).then(
        (ws) => (three.push(ws), true),
        () => false,
      ),
    );
    for (const ws of [...three, other]) ws.terminate();
  });

  it("closes a revoked key's sockets on every replica within 5 s", async () => {
    const k = await newKey();
    const sockets = [await open(c.url, k.key), await open(d.url, k.key)];
    const closed = sockets.map(
      (ws) =>
        new Promise<{ code: number; at: number }>((r) =>
          ws.once('close', (code) => r({ code, at: Date.now() })),
        ),
    );
    const revokedAt = Date.now();
    expect((await call(c.url, 'DELETE', `/api/admin/api-keys/${k.id}`, { token: ADMIN_TOKEN })).status).toBe(
      200,
    );
    for (const { code, at } of await Promise.all(closed)) {
      expect(code).toBe(1008);
      expect(at - revokedAt).toBeLessThan(5000);
    }
    await expect(open(d.url, k.key)).rejects.toThrow('HTTP 401');
  });
});
