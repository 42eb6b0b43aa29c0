import { ledgerProblems } from '../helpers/ledger.js';
import { ok, type Journal, type WriteEntry } from './journal.js';

/** A read-only query against the broker's database: the rows of one SELECT. */
export type Query = (sql: string) => Promise<Record<string, any>[]>;

export type WriteCheck = {
  /** Writes answered 2xx. */
  acknowledged: number;
  /** Acknowledged writes missing from the database (refs). */
  lost: string[];
  /** Writes stored more than once (refs). */
  doubled: string[];
  /** Acknowledged writes stored under another id than the one answered (refs). */
  wrongId: string[];
  /** Writes answered an error or nothing that are in the database all the same: ref and status. */
  unacknowledgedStored: { ref: string; s: number }[];
  /** Writes answered an error or nothing and not stored. */
  unacknowledgedAbsent: number;
  /** Stored writes of this run that the journal does not hold (refs). */
  unjournaled: string[];
};

export type EventCheck = {
  /** Events the database holds for the providers, numbered while the socket was open. */
  expected: number;
  received: number;
  /** Expected events the socket never got (stream numbers). */
  missing: string[];
  /** Events the socket got more than once (event ids). */
  duplicates: string[];
  /** Events the socket got that the database does not hold for the providers. */
  unexpected: string[];
  /** Acknowledged offers with no negotiation.proposed event in the database. */
  offersWithoutEvent: string[];
  /** Events stored but not numbered yet (not deliverable): should be 0 once the relays ran. */
  unnumbered: number;
};

export type Books = {
  intents: WriteCheck;
  negotiations: WriteCheck;
  /** Intents whose escrow transfer is missing or doubled (ids). */
  escrow: { missing: string[]; doubled: string[] };
  events: EventCheck;
  ledger: string[];
};

const RUN = /^[A-Za-z0-9._:-]{1,80}$/;
const DID = /^did:key:z[1-9A-HJ-NP-Za-km-z]{1,200}$/;
const quote = (s: string) => `'${s}'`;

/** Compares every journaled write with what the database holds for it. */
function checkWrites(
  writes: WriteEntry[],
  stored: Map<string, string[]>,
  keyOf: (w: WriteEntry) => string | undefined,
): WriteCheck {
  const c: WriteCheck = {
    acknowledged: 0,
    lost: [],
    doubled: [],
    wrongId: [],
    unacknowledgedStored: [],
    unacknowledgedAbsent: 0,
    unjournaled: [],
  };
  const journaled = new Set<string>();
  for (const w of writes) {
    const key = keyOf(w);
    if (key === undefined) continue;
    journaled.add(key);
    const ids = stored.get(key) ?? [];
    if (ids.length > 1) c.doubled.push(w.ref);
    if (ok(w.s)) {
      c.acknowledged += 1;
      if (!ids.length) c.lost.push(w.ref);
      else if (w.id !== undefined && !ids.includes(w.id)) c.wrongId.push(w.ref);
    } else if (ids.length) c.unacknowledgedStored.push({ ref: w.ref, s: w.s });
    else c.unacknowledgedAbsent += 1;
  }
  for (const key of stored.keys()) if (!journaled.has(key)) c.unjournaled.push(key);
  return c;
}

const grouped = (rows: Record<string, any>[], key: string, value: string) => {
  const m = new Map<string, string[]>();
  for (const r of rows) m.set(r[key], [...(m.get(r[key]) ?? []), r[value]]);
  return m;
};

/**
 * Checks the run's writes, events and the ledger against the database:
 * - every intent and offer answered 2xx is stored exactly once, under the id answered; no write
 *   is stored twice (an intent is found by the key the run wrote into its description, so one
 *   that got no answer is found too; an offer by its intent, one offer per intent);
 * - every intent's escrow transfer exists exactly once;
 * - every event the database holds for the run's providers, numbered while the socket was open,
 *   reached the socket once; every acknowledged offer has its event;
 * - the books balance (test/helpers/ledger.ts: the sum is 0, no account below zero but treasury,
 *   every balance equal to its transfers).
 */
export async function checkBooks(j: Journal, query: Query): Promise<Books> {
  const run = j.setup.run;
  if (!RUN.test(run)) throw new Error(`unexpected run name ${run}`);
  for (const d of j.setup.providers) if (!DID.test(d)) throw new Error(`unexpected provider DID ${d}`);
  const like = quote(`chaos ${run}:%`);
  const intents = await query(
    `SELECT id::text AS id, substr(description, 7) AS ref FROM intents WHERE description LIKE ${like}`,
  );
  const negotiations = await query(
    `SELECT n.id::text AS id, n.intent_id::text AS intent FROM negotiations n
       JOIN intents i ON i.id = n.intent_id WHERE i.description LIKE ${like}`,
  );
  const escrows = await query(
    `SELECT i.id::text AS id, count(t.id)::int AS n FROM intents i
       LEFT JOIN ledger_transfers t ON t.reference = i.id::text AND t.kind = 'intent_escrow'
      WHERE i.description LIKE ${like} GROUP BY i.id`,
  );
  const providers = `ARRAY[${j.setup.providers.map(quote).join(',')}]::text[]`;
  const events = await query(
    `SELECT seq::text AS id, event_id::text AS ev, type, payload->'negotiation'->>'id' AS n,
            (extract(epoch FROM created_at) * 1000)::bigint AS at
       FROM events WHERE recipients && ${providers}`,
  );

  const intentWrites = j.writes.filter((w) => w.k === 'intent');
  const offerWrites = j.writes.filter((w) => w.k === 'negotiation');
  const intentCheck = checkWrites(intentWrites, grouped(intents, 'ref', 'id'), (w) => w.ref);
  // An offer is keyed by its intent: the run makes one offer per intent.
  const offerCheck = checkWrites(offerWrites, grouped(negotiations, 'intent', 'id'), (w) => w.intent);
  // The journal names offers by the intent's ref; the unjournaled ones by intent id.

  const escrow = {
    missing: escrows.filter((r) => r.n === 0).map((r) => r.id as string),
    doubled: escrows.filter((r) => r.n > 1).map((r) => r.id as string),
  };

  const opened = j.sockets.filter((s) => s.k === 'ws-open').map((s) => s.t);
  const end = j.sockets.find((s) => s.k === 'ws-end')?.t ?? Math.max(...j.events.map((e) => e.t), 0);
  const from = Math.min(...opened);
  const numbered = events.filter((e) => e.id !== null);
  // Events stored while the socket was open (a second's margin at the end for the last delivery).
  const expected = numbered.filter((e) => Number(e.at) >= from && Number(e.at) <= end - 1000);
  const got = new Map<string, number>();
  for (const e of j.events) got.set(e.ev, (got.get(e.ev) ?? 0) + 1);
  const known = new Set(numbered.map((e) => e.ev as string));
  const proposed = new Set(
    numbered.filter((e) => e.type === 'negotiation.proposed').map((e) => e.n as string),
  );
  const eventCheck: EventCheck = {
    expected: expected.length,
    received: j.events.length,
    missing: expected.filter((e) => !got.has(e.ev)).map((e) => e.id as string),
    duplicates: [...got].filter(([, n]) => n > 1).map(([ev]) => ev),
    unexpected: [...got.keys()].filter((ev) => !known.has(ev)),
    offersWithoutEvent: offerWrites.filter((w) => ok(w.s) && w.id && !proposed.has(w.id)).map((w) => w.ref),
    unnumbered: events.length - numbered.length,
  };
  const ledger = await ledgerProblems({
    query: async (sql: string) => ({ rows: await query(sql) }),
  } as unknown as Parameters<typeof ledgerProblems>[0]);
  return { intents: intentCheck, negotiations: offerCheck, escrow, events: eventCheck, ledger };
}

/** What fails the run: a lost or doubled write, a lost or doubled event, unbalanced books. */
export function booksProblems(b: Books): string[] {
  const p: string[] = [];
  const list = (xs: string[]) => `${xs.slice(0, 10).join(', ')}${xs.length > 10 ? ', ...' : ''}`;
  for (const [what, c] of [
    ['intents', b.intents],
    ['offers', b.negotiations],
  ] as const) {
    if (c.lost.length) p.push(`${c.lost.length} acknowledged ${what} lost: ${list(c.lost)}`);
    if (c.doubled.length) p.push(`${c.doubled.length} ${what} stored twice: ${list(c.doubled)}`);
    if (c.wrongId.length) p.push(`${c.wrongId.length} ${what} stored under another id: ${list(c.wrongId)}`);
    if (c.unjournaled.length)
      p.push(`${c.unjournaled.length} ${what} stored that the journal lacks: ${list(c.unjournaled)}`);
  }
  if (b.escrow.missing.length) p.push(`intents without their escrow: ${list(b.escrow.missing)}`);
  if (b.escrow.doubled.length) p.push(`intents escrowed twice: ${list(b.escrow.doubled)}`);
  if (b.events.missing.length)
    p.push(`${b.events.missing.length} events never reached the socket: ${list(b.events.missing)}`);
  if (b.events.duplicates.length)
    p.push(`${b.events.duplicates.length} events reached the socket twice: ${list(b.events.duplicates)}`);
  if (b.events.unexpected.length)
    p.push(
      `the socket got ${b.events.unexpected.length} events the database lacks: ${list(b.events.unexpected)}`,
    );
  if (b.events.offersWithoutEvent.length)
    p.push(`acknowledged offers without their event: ${list(b.events.offersWithoutEvent)}`);
  p.push(...b.ledger.map((l) => `ledger: ${l}`));
  return p;
}
