import { beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { RunningBroker } from '../app/server.js';
import { booksProblems, checkBooks, type Query } from './chaos/books.js';
import {
  failureTable,
  formatTable,
  JOURNAL,
  parseJournal,
  type EventEntry,
  type Journal,
  type WriteEntry,
} from './chaos/journal.js';
import { newClient } from './helpers/api.js';
import { fund, newSigner, registeredAgent, signed } from './helpers/ainp.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

/**
 * The chaos run's checks (test/chaos/, `npm run test:chaos`) on a real broker and database: a
 * journal made the way loadtests/lib/chaos.ts makes it passes when every write and event is where
 * it should be, and each kind of loss or doubling the run must catch is caught.
 */
let stack: TestStack;
let broker: RunningBroker;
let journal: Journal;
const query: Query = async (sql) => (await stack.db.query(sql)).rows;
const RUN = 'chaos-books-test';

beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker();
  const owner = await newClient(broker.url);
  const provider = await registeredAgent(broker.url, owner);
  const client = newSigner();
  await fund(broker.url, client.did, '100000');
  // The watcher: a socket with the key that owns the provider gets its events.
  const events: EventEntry[] = [];
  const ws = new WebSocket(`${broker.url.replace('http', 'ws')}/ws`, {
    headers: { Authorization: `Bearer ${owner.key}` },
  });
  ws.on('message', (m: Buffer) => {
    const e = JSON.parse(m.toString()) as { id: string; event_id: string; type: string; payload: any };
    events.push({
      k: 'event',
      t: Date.now(),
      id: e.id,
      ev: e.event_id,
      type: e.type,
      n: e.payload.negotiation?.id,
    });
  });
  await new Promise((r) => ws.once('open', r));
  const opened = Date.now();
  const writes: WriteEntry[] = [];
  for (let i = 0; i < 4; i++) {
    const ref = `${RUN}:${i}`;
    const t0 = Date.now();
    const intent = await signed(broker.url, client, 'POST', '/api/intents', {
      intent_type: 'translation',
      description: `chaos ${ref}`,
      budget_atomic: '1000',
    });
    writes.push({ k: 'intent', ref, t0, t: Date.now(), s: intent.status, id: intent.body.id });
    const n0 = Date.now();
    const offer = await signed(broker.url, provider.signer, 'POST', '/api/negotiations', {
      intent_id: intent.body.id,
      price_atomic: '1000',
      eta_ms: 60_000,
    });
    writes.push({
      k: 'negotiation',
      ref,
      intent: intent.body.id,
      t0: n0,
      t: Date.now(),
      s: offer.status,
      id: offer.body.id,
    });
  }
  const deadline = Date.now() + 10_000;
  while (events.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 1200));
  ws.close();
  const lines = [
    'time="..." level=warning msg="Request Failed" (k6 noise is skipped)',
    `${JOURNAL}${JSON.stringify({ k: 'setup', t: opened, run: RUN, rate: 1, duration: '1s', writeShare: 1, providers: [provider.signer.did] })}`,
    `${JOURNAL}${JSON.stringify({ k: 'ws-open', t: opened, from: null })}`,
    ...[...writes, ...events].map((e) => `${JOURNAL}${JSON.stringify(e)}`),
    `${JOURNAL}${JSON.stringify({ k: 'ws-end', t: Date.now(), last: events.at(-1)?.id, sessions: 1 })}`,
  ];
  journal = parseJournal(lines.join('\n'));
}, 60_000);

const copy = (j: Journal): Journal => JSON.parse(JSON.stringify(j)) as Journal;

describe('the chaos run’s checks against the database', () => {
  it('pass a run where every write is stored once, every event arrived once and the books balance', async () => {
    expect(journal.writes).toHaveLength(8);
    expect(journal.events).toHaveLength(4);
    const books = await checkBooks(journal, query);
    expect(books.intents).toMatchObject({ acknowledged: 4, lost: [], doubled: [], unjournaled: [] });
    expect(books.negotiations).toMatchObject({ acknowledged: 4, lost: [], doubled: [] });
    expect(books.events).toMatchObject({ expected: 4, received: 4, missing: [], duplicates: [] });
    expect(booksProblems(books)).toEqual([]);
  });

  it('catch an acknowledged write that is not stored, an unjournaled one, a lost and a doubled event', async () => {
    const j = copy(journal);
    // An acknowledged intent the database does not have.
    j.writes.push({
      k: 'intent',
      ref: `${RUN}:99`,
      t0: 1,
      t: 2,
      s: 201,
      id: '00000000-0000-4000-8000-000000000000',
    });
    // A write stored that the journal lost track of.
    j.writes = j.writes.filter((w) => !(w.k === 'intent' && w.ref === `${RUN}:3`));
    // The socket missed one event and got another twice.
    const [first, second] = j.events;
    j.events = [first!, first!, ...j.events.slice(2)];
    const problems = booksProblems(await checkBooks(j, query));
    expect(problems).toEqual(
      expect.arrayContaining([
        `1 acknowledged intents lost: ${RUN}:99`,
        `1 intents stored that the journal lacks: ${RUN}:3`,
        `1 events never reached the socket: ${second!.id}`,
        `1 events reached the socket twice: ${first!.ev}`,
      ]),
    );
  });

  it('catch a write stored twice (and its missing escrow), and count an unacknowledged write that was stored', async () => {
    const j = copy(journal);
    const target = j.writes.find((w) => w.k === 'intent' && w.ref === `${RUN}:2`)!;
    // Answered nothing (a reset connection) but committed: reported, not a failure.
    j.writes.find((w) => w.k === 'intent' && w.ref === `${RUN}:1`)!.s = 0;
    await stack.db.query(
      `INSERT INTO intents (id, client_did, intent_type, description, budget_atomic)
       SELECT gen_random_uuid(), client_did, intent_type, description, budget_atomic FROM intents WHERE id = $1`,
      [target.id],
    );
    try {
      const books = await checkBooks(j, query);
      expect(books.intents.unacknowledgedStored).toEqual([{ ref: `${RUN}:1`, s: 0 }]);
      const problems = booksProblems(books);
      expect(problems).toContain(`1 intents stored twice: ${RUN}:2`);
      expect(problems.find((p) => p.startsWith('intents without their escrow: '))).toBeDefined();
    } finally {
      await stack.db.query(`DELETE FROM intents WHERE description = $1 AND id <> $2`, [
        `chaos ${RUN}:2`,
        target.id,
      ]);
    }
  });
});

describe('the failure table', () => {
  const w = (t: number, s: number): WriteEntry => ({ k: 'intent', ref: `r:${t}`, t0: t - 5, t, s });
  const j: Journal = {
    setup: { k: 'setup', t: 0, run: 'r', rate: 1, duration: '1s', writeShare: 1, providers: [] },
    // Writes every second from 1 s to 30 s; at 12 and 13 s two fail, none succeed from 11 to 16 s.
    writes: [
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((s) => w(s * 1000, 201)),
      w(12_000, 503),
      w(13_000, 0),
      ...[16, 17, 18, 19, 20, 25, 30].map((s) => w(s * 1000, 201)),
    ],
    reads: [{ k: 'read', t: 14_500, s: 503 }],
    events: [],
    sockets: [],
  };

  it('gives per window the failed requests, the longest write gap and the time to recover', () => {
    const rows = failureTable(
      j,
      [
        { name: 'x deleted', at: 10_500, back: 15_000 },
        { name: 'y', at: 21_000 },
      ],
      30_500,
    );
    expect(rows.map((r) => r.failure)).toEqual(['none (before the first failure)', 'x deleted', 'y']);
    expect(rows[0]).toMatchObject({ failedWrites: 0, failedReads: 0, recoverS: 0, windowS: 9.5 });
    expect(rows[1]).toMatchObject({
      writesOk: 6,
      failedWrites: 2,
      failedReads: 1,
      statuses: { '0': 1, '503': 2 },
      // From 11 s to 16 s.
      longestGapS: 5,
      // The last failure at 14.5 s; the next success at 16 s, 5.5 s after the deletion.
      recoverS: 5.5,
      backS: 4.5,
      // 12, 13 and 14.5 s: 1.5 to 4 s after the deletion.
      bursts: '1.5-4 (3)',
    });
    expect(rows[2]).toMatchObject({
      writesOk: 2,
      failedWrites: 0,
      longestGapS: 5,
      recoverS: 0,
      backS: undefined,
    });
    expect(formatTable(rows)).toContain('| x deleted ');
  });
});
