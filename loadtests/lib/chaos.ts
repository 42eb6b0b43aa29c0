import { check } from 'k6';
import exec from 'k6/execution';
import { clearInterval, setInterval, setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { admin, registerAgent, requestTimeout, signed, type ApiKey, type Res } from './api.ts';
import { exportSigner, importSigner, newSigner, type ExportedSigner, type Signer } from './did.ts';
import { TARGET } from './env.ts';
import { slo } from './slo.ts';
import { readRequest, trafficSetup, trafficTeardown, WRITE_SHARE, type TrafficData } from './traffic.ts';

/**
 * The failure run (`npm run test:chaos`, test/chaos/): the load's traffic mix with its signed
 * writes, while the test deletes pods, and a journal of every write so the test can check each one
 * against the database afterwards. Each line of the journal is JOURNAL followed by one JSON object
 * on the log (k6's console, K6_LOG_FORMAT=raw):
 *
 * - `intent`: a client's signed `POST /api/intents`; `ref` is the key this run chose and wrote
 *   into the intent's description (`chaos <ref>`), so a write that got no answer can be found too;
 *   `s` the status (0: no answer), `id` the intent id answered, `t0`/`t` when it was sent/answered.
 * - `negotiation`: a provider's signed `POST /api/negotiations` on that intent (only after a 201):
 *   its `intent`, status and `id`. It appends a `negotiation.proposed` event for both parties.
 * - `read`: a read that did not answer 200 (reads that did are only counted by k6).
 * - `event`: what the WebSocket client got: stream number `id`, `ev` (event_id), `type`, and the
 *   negotiation it names; `ws-open` (with the `last_event_id` it resumed from), `ws-close`,
 *   `ws-error`, `ws-end` around them.
 *
 * The WebSocket client connects with the API key that owns the providers, so it receives every
 * event of every negotiation the load opens; it reconnects when its socket goes away (a deleted
 * broker pod) and resumes from the last event id it got (SPEC: `/ws` resumes after a reconnect).
 */
export const JOURNAL = '==ainp-journal==';
/** The run's name, in every write's key: setup's (each VU's init would make its own). */
const runName = () => __ENV.RUN_ID || `chaos-${Date.now()}`;
const PROVIDERS = 8;
/** After the load ends, the WebSocket stays open this long for the last events. */
const TAIL_MS = Number(__ENV.EVENTS_TAIL_S || 30) * 1000;
/** A socket that answered no ping for this long is given up and replaced. */
const SILENCE_MS = 10_000;

export function journal(entry: Record<string, unknown>): void {
  console.log(`${JOURNAL}${JSON.stringify(entry)}`);
}

/** `300s`, `5m`, `1m30s` in milliseconds. */
export function durationMs(d: string): number {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(d);
  if (!m || (!m[1] && !m[2])) throw new Error(`DURATION ${d}: expected e.g. 300s, 5m or 4m30s`);
  return (Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 1000;
}

export const DURATION = __ENV.DURATION || '300s';
const RATE = Number(__ENV.RATE || 80);

export type ChaosData = TrafficData & {
  watch: ApiKey;
  providers: ExportedSigner[];
  run: string;
  /** When setup ended: the load starts then. */
  started: number;
};

export function chaosOptions() {
  const s = durationMs(DURATION) / 1000;
  return {
    scenarios: {
      load: {
        executor: 'constant-arrival-rate',
        exec: 'traffic',
        rate: RATE,
        timeUnit: '1s',
        duration: DURATION,
        preAllocatedVUs: slo.load.preAllocatedVUs,
        maxVUs: slo.load.maxVUs,
      },
      events: {
        executor: 'per-vu-iterations',
        exec: 'events',
        vus: 1,
        iterations: 1,
        maxDuration: `${Math.ceil(s + TAIL_MS / 1000 + 60)}s`,
      },
    },
    // No threshold: the run is judged from its journal and the database, not from k6's rates.
    thresholds: {},
    setupTimeout: '180s',
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  };
}

export async function chaosSetup(): Promise<ChaosData> {
  requestTimeout(__ENV.REQUEST_TIMEOUT || '10s');
  const traffic = await trafficSetup(RATE);
  // The watcher's key owns the providers: a socket opened with it gets their events.
  const watch = admin.createKey('k6-chaos-watch');
  const providers: ExportedSigner[] = [];
  for (let i = 0; i < PROVIDERS; i++) {
    const signer = await newSigner();
    const res = await registerAgent(watch, signer, `k6 chaos provider ${i}`);
    if (res.status !== 201) throw new Error(`setup could not register a provider: ${res.status} ${res.body}`);
    providers.push(await exportSigner(signer));
  }
  const run = runName();
  journal({
    k: 'setup',
    t: Date.now(),
    run,
    rate: RATE,
    duration: DURATION,
    writeShare: WRITE_SHARE,
    providers: providers.map((p) => p.did),
  });
  return { ...traffic, watch, providers, run, started: Date.now() };
}

export function chaosTeardown(data: ChaosData): void {
  trafficTeardown(data);
  admin.deleteKey(data.watch.id);
}

let client: Signer | undefined;
let providers: Signer[] | undefined;

const field = (r: Res, name: string): string | undefined => {
  try {
    return (r.json() as Record<string, string>)[name];
  } catch {
    return undefined;
  }
};

/** One iteration of the load: a signed intent and an offer on it, or a read. */
export async function chaosIteration(data: ChaosData): Promise<void> {
  requestTimeout(__ENV.REQUEST_TIMEOUT || '10s');
  const roll = Math.random();
  if (roll >= WRITE_SHARE) {
    const res = readRequest(data, (roll - WRITE_SHARE) / (1 - WRITE_SHARE));
    if (!check(res, { 'status 200': (r) => r.status === 200 }))
      journal({ k: 'read', t: Date.now(), s: res.status, e: res.error_code || undefined });
    return;
  }
  client ??= await importSigner(data.clients[(exec.vu.idInTest - 1) % data.clients.length]!);
  providers ??= await Promise.all(data.providers.map(importSigner));
  const ref = `${data.run}:${exec.scenario.iterationInTest}`;
  const t0 = Date.now();
  const intent = await signed(client, 'POST', '/api/intents', {
    intent_type: 'translation',
    description: `chaos ${ref}`,
    budget_atomic: '1000',
  });
  const id = intent.status === 201 ? field(intent, 'id') : undefined;
  journal({ k: 'intent', ref, t0, t: Date.now(), s: intent.status, id, e: intent.error_code || undefined });
  if (!check(intent, { 'intent 201': (r) => r.status === 201 }) || !id) return;
  const provider = providers[exec.scenario.iterationInTest % providers.length]!;
  const n0 = Date.now();
  const offer = await signed(provider, 'POST', '/api/negotiations', {
    intent_id: id,
    price_atomic: '1000',
    eta_ms: 60_000,
  });
  journal({
    k: 'negotiation',
    ref,
    intent: id,
    t0: n0,
    t: Date.now(),
    s: offer.status,
    id: offer.status === 201 ? field(offer, 'id') : undefined,
    e: offer.error_code || undefined,
  });
  check(offer, { 'negotiation 201': (r) => r.status === 201 });
}

type Event = { id: string; event_id: string; type: string; payload?: { negotiation?: { id?: string } } };

/**
 * The WebSocket client of the run: open from the start of the load to TAIL_MS after its end,
 * reconnecting (with `last_event_id`) whenever its socket closes or stops answering pings.
 */
export async function watchEvents(data: ChaosData): Promise<void> {
  const until = data.started + durationMs(DURATION) + TAIL_MS;
  let last: number | undefined;
  let sessions = 0;
  while (Date.now() < until) {
    sessions += 1;
    await session(data.watch, last, until, (e) => {
      const n = Number(e.id);
      if (last === undefined || n > last) last = n;
    });
    if (Date.now() < until) await new Promise((r) => setTimeout(r, 500));
  }
  journal({ k: 'ws-end', t: Date.now(), last, sessions });
}

function session(key: ApiKey, last: number | undefined, until: number, got: (e: Event) => void) {
  return new Promise<void>((resolve) => {
    const url = `${TARGET.replace(/^http/, 'ws')}/ws${last === undefined ? '' : `?last_event_id=${last}`}`;
    const ws = new WebSocket(url, null, { headers: { Authorization: `Bearer ${key.key}` } });
    let heard = Date.now();
    let done = false;
    const finish = (why: string) => {
      if (done) return;
      done = true;
      clearInterval(ticker);
      journal({ k: 'ws-close', t: Date.now(), why });
      try {
        ws.close();
      } catch {
        // already closed
      }
      resolve();
    };
    const ticker = setInterval(() => {
      if (Date.now() >= until) return finish('run over');
      if (Date.now() - heard > SILENCE_MS) return finish(`silent for ${SILENCE_MS} ms`);
      if (ws.readyState === 1) ws.ping();
    }, 2000);
    ws.onopen = () => {
      heard = Date.now();
      journal({ k: 'ws-open', t: heard, from: last ?? null });
    };
    ws.onpong = () => (heard = Date.now());
    ws.onmessage = (m) => {
      heard = Date.now();
      const e = JSON.parse(String(m?.data)) as Event;
      journal({
        k: 'event',
        t: heard,
        id: e.id,
        ev: e.event_id,
        type: e.type,
        n: e.payload?.negotiation?.id,
      });
      got(e);
    };
    ws.onerror = (e) => journal({ k: 'ws-error', t: Date.now(), error: String(e?.error ?? '') });
    // (@types/k6 gives onclose no event: the close code is not read here.)
    ws.onclose = () => finish('closed');
  });
}
