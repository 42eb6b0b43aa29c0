/**
 * A CPU profile of one hot path of the built broker under load, and where its time goes:
 *   npm run build && npx tsx bench/profile.ts [--op read|reputation|register|search|attest] [--seconds 10]
 * Writes `.test-data/prof/<op>-<sha>.cpuprofile` (open it in Chrome DevTools or speedscope for the
 * flame graph) and prints the self time by package and the 25 costliest functions, of the samples
 * taken while the load ran (the set-up before it is left out). While the load runs it samples
 * pg_stat_activity every 50 ms: what the broker's database sessions wait on (a lock, the WAL flush
 * of a commit, the client) shows where a write path serializes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { parseArgs } from 'node:util';
import { agentBody, newClient } from '../test/helpers/api.js';
import { newSigner, registerWithDid } from '../test/helpers/ainp.js';
import { attestationCast } from './attestation-cast.js';
import { cannon } from './cannon.js';
import { sampleWaits } from './pg-waits.js';
import { seedAgents } from './seed-agents.js';
import { benchServices, startBroker } from './services.js';

const { values } = parseArgs({
  options: {
    op: { type: 'string', default: 'read' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
  },
});
const op = values.op!;
if (!['read', 'reputation', 'register', 'search', 'attest'].includes(op))
  throw new Error(`--op: read, reputation, register, search or attest`);
const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD']).toString().trim();
const dir = path.resolve('.test-data/prof/run');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number };

/** Now on the clock of a .cpuprofile's timestamps (CLOCK_MONOTONIC in µs, the same in every process). */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Self time per function and per package (node_modules/<pkg>, app/<layer>, node: internals), of
 * the samples taken while the load ran (`window`, monotonic µs): not the set-up before it.
 */
function summarize(profile: Profile, window: { from: number; to: number }) {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  // Start-up (loading modules) is not the hot path: samples under Node's module loader are
  // counted apart.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const loading = (id: number) => {
    for (
      let at: number | undefined = id, hops = 0;
      at !== undefined && hops < 500;
      at = parent.get(at), hops++
    )
      if (byNode.get(at)!.callFrame.url.startsWith('node:internal/modules/')) return true;
    return false;
  };
  const self = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at >= window.from && at <= window.to)
      self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  if (!self.size) throw new Error('no profile sample in the load window: are the clocks apart?');
  let total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  let startup = 0;
  for (const [id, us] of self) {
    if (loading(id)) {
      startup += us;
      continue;
    }
    const { functionName, url, lineNumber } = byNode.get(id)!.callFrame;
    const where = url.replace(/^file:\/\//, '').replace(`${process.cwd()}/`, '');
    const layer = /^dist\/app\/([^/.]+)/.exec(where)?.[1];
    const group = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where)?.[1] ?? (layer ? `app/${layer}` : '');
    const key = group || (where.startsWith('node:') ? 'node internals' : functionName || '(native)');
    pkg.set(key, (pkg.get(key) ?? 0) + us);
    const name = `${functionName || '(anonymous)'} ${where ? `${where}:${lineNumber + 1}` : ''}`.trim();
    fn.set(name, (fn.get(name) ?? 0) + us);
  }
  total -= startup; // the samples of the load window, less the lazy module loads among them
  const top = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
  return {
    startup_ms: Math.round(startup / 1000),
    total_ms: Math.round(total / 1000),
    packages: top(pkg, 20),
    functions: top(fn, 25),
  };
}

const services = await benchServices();
const broker = await startBroker(
  services,
  {
    RATE_LIMIT_GET: '1000000',
    RATE_LIMIT_API_READ: '1000000',
    RATE_LIMIT_IP_WRITE: '1000000',
    RATE_LIMIT_AUTH_FAILURE: '1000000',
    RATE_LIMIT_PROBE: '1000000',
    RATE_LIMIT_REGISTER: '1000000',
    RATE_LIMIT_SEARCH: '1000000',
    RATE_LIMIT_SIGNED_WRITE: '1000000',
    // --op attest: committees of 50 staked members, and no finalizer closing the receipts attested.
    POU_M: '50',
    POU_K: '3',
    POU_MIN_STAKE: '1',
    SCHEDULER_ENABLED: 'false',
  },
  ['--cpu-prof', `--cpu-prof-dir=${dir}`],
);
let stopped = false;
try {
  const connections = op === 'search' ? 8 : Number(values.connections);
  // Attestations: each request a distinct AUDIT_PASS by a committee member of a pending receipt,
  // enough of them for --seconds at 2,000/s.
  const attest =
    op === 'attest'
      ? await attestationCast(broker.url, 50).then(async (cast) =>
          cast.attestRun(
            await cast.attestations(2000 * Number(values.seconds) + connections),
            2000 * Number(values.seconds),
          ),
        )
      : undefined;
  const owner = await newClient(broker.url);
  const signer = newSigner();
  const agent = (await registerWithDid(broker.url, owner, signer, agentBody())).body as { id: string };
  const headers = { 'X-API-Key': owner.key, 'Content-Type': 'application/json' };
  const target = {
    read: { url: `${broker.url}/api/v1/agents/${agent.id}` },
    reputation: { url: `${broker.url}/api/reputation/${encodeURIComponent(signer.did)}` },
    register: {
      url: `${broker.url}/api/v1/agents/register`,
      method: 'POST' as const,
      body: JSON.stringify(agentBody({ name: 'profiled' })),
    },
    // A text search over 100,000 seeded agents from 8 clients, as npm run bench measures it.
    search: { url: `${broker.url}/api/v1/agents?q=legal%20contracts&limit=20` },
    attest,
  }[op as 'read' | 'reputation' | 'register' | 'search' | 'attest']!;
  const db = new pg.Pool({ connectionString: services.databaseUrl, max: 1 });
  if (op === 'search') await seedAgents(db, 100_000);
  const waits = sampleWaits(db);
  const from = monotonicUs();
  const sample = await cannon({
    ...target,
    headers,
    connections,
    // An attestation run ends when its requests are sent (or at 4 x --seconds).
    duration: Number(values.seconds) * (op === 'attest' ? 4 : 1),
  });
  const window = { from, to: monotonicUs() };
  waits.stop();
  await db.end();
  console.log(
    JSON.stringify({
      op,
      sha,
      rps: sample.rps,
      p50_ms: sample.p50_ms,
      p95_ms: sample.p95_ms,
      p99_ms: sample.p99_ms,
      ok: sample.ok,
    }),
  );
  await broker.stop();
  stopped = true;
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('the broker wrote no profile');
  const out = path.resolve(`.test-data/prof/${op}-${sha}.cpuprofile`);
  renameSync(path.join(dir, file), out);
  const summary = summarize(JSON.parse(readFileSync(out, 'utf8')) as Profile, window);
  console.log(
    `\nprofile: ${path.relative(process.cwd(), out)} (${summary.total_ms} ms of samples while the load ran, ` +
      `${summary.startup_ms} ms of them loading modules)`,
  );
  console.log('\nself time by package:');
  for (const line of summary.packages) console.log(line);
  console.log('\ncostliest functions (self time):');
  for (const line of summary.functions) console.log(line);
} finally {
  if (!stopped) await broker.stop();
  await services.stop();
  rmSync(dir, { recursive: true, force: true });
}
