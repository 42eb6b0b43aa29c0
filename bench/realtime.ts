/**
 * Event latency, change committed → message on the socket, across replicas: a client socket on
 * broker A, the changes made through broker B (NATS in between).
 *   npm run build && npx tsx bench/realtime.ts [--samples 300]
 * Each sample: the provider opens a negotiation on B; the time runs from sending that request to
 * the negotiation.proposed message on A's socket, so it bounds commit → socket from above (it also
 * holds B's own handling of the request).
 */
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { signedHeaders } from '../app/domain/did-signing.js';
import { newClient } from '../test/helpers/api.js';
import { fund, newSigner, registeredAgent, signed } from '../test/helpers/ainp.js';
import { benchServices, startBroker, UNLIMITED } from './services.js';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '300' } } });
const services = await benchServices();
const brokers: { url: string; stop(): Promise<void> }[] = [];
async function broker(): Promise<string> {
  const b = await startBroker(services, { ...UNLIMITED, LOG_LEVEL: 'warn' });
  brokers.push(b);
  return b.url;
}
try {
  const a = await broker();
  const b = await broker();
  const provider = (await registeredAgent(b, await newClient(b))).signer;
  const client = newSigner();
  // Every intent escrows its budget: the client's deposit covers all the samples.
  await fund(b, client.did, String(10_000 * Number(values.samples)));
  const ws = new WebSocket(`${a.replace('http', 'ws')}/ws`, {
    headers: signedHeaders(client, 'GET', '/ws', ''),
  });
  const arrivals = new Map<string, number>();
  ws.on('message', (d) => {
    const e = JSON.parse(String(d)) as { payload: { negotiation: { id: string } } };
    arrivals.set(e.payload.negotiation.id, performance.now());
  });
  await new Promise((r) => ws.once('open', r));
  const latencies: number[] = [];
  for (let i = 0; i < Number(values.samples); i++) {
    const intent = await signed(b, client, 'POST', '/api/intents', {
      intent_type: 'x',
      description: 'y',
      budget_atomic: '10000',
    });
    if (intent.status !== 201)
      throw new Error(`intent: HTTP ${intent.status} ${JSON.stringify(intent.body)}`);
    const t0 = performance.now();
    const neg = await signed(b, provider, 'POST', '/api/negotiations', {
      intent_id: intent.body.id,
      price_atomic: '5000',
      eta_ms: 10,
    });
    const deadline = Date.now() + 10_000;
    while (!arrivals.has(neg.body.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    if (!arrivals.has(neg.body.id)) throw new Error('event did not arrive within 10 s');
    latencies.push(arrivals.get(neg.body.id)! - t0);
  }
  ws.close();
  latencies.sort((x, y) => x - y);
  const pct = (p: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]! * 10) / 10;
  console.log(
    JSON.stringify({ samples: latencies.length, p50_ms: pct(0.5), p99_ms: pct(0.99), max_ms: pct(1) }),
  );
} finally {
  await Promise.all(brokers.map((x) => x.stop()));
  await services.stop();
}
