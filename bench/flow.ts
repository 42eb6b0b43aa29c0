/**
 * Rate of complete settle → attest → finalize flows over HTTP with real signatures:
 *   npm run bench:flow -- [--seconds 15] [--workers 20] [--providers 1] [--statements] [--out file.json]
 * Each flow is 10 requests: the admin deposit of the client's budget (money enters the ledger only so),
 * then 9 signed: intent (escrows the budget), negotiation, accept, settle (pays out of the escrow),
 * 3 AUDIT_PASS, ACCEPTED, finalize. While the flows run, pg_stat_activity is sampled (bench/pg-waits.ts):
 * what the database sessions wait on shows where the flow serializes. Prints flows/s and the wait
 * table, and writes both as JSON (default .test-data/bench/flow-<sha>-p<providers>-<time>.json)
 * with the commit and the machine's load, for comparison between commits. With --statements,
 * PostgreSQL runs with pg_stat_statements (planning tracked too) and the run also prints, per flow,
 * the statements that cost the database the most time: calls, planning and execution milliseconds.
 * BENCH_PROFILE=1 starts the broker with --cpu-prof (the profile lands in .test-data/prof when it stops).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { newClient } from '../test/helpers/api.js';
import { newSigner, registeredAgent, settledReceipt, signed, type Signer } from '../test/helpers/ainp.js';
import { cpuPerRequest, cpuSeconds } from './cpu.js';
import { sampleWaits, type WaitTable } from './pg-waits.js';
import { benchServices, startBroker, UNLIMITED } from './services.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    workers: { type: 'string', default: '20' },
    // Flows spread over this many providers, in turn (each finalization updates its provider's
    // reputation row: with one provider, that row is what every flow waits for).
    providers: { type: 'string', default: '1' },
    statements: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const git = (...args: string[]) => {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
};
const startedAt = new Date();
const shortSha = git('rev-parse', '--short', 'HEAD') ?? 'unknown';
const out =
  values.out ??
  path.join(
    '.test-data',
    'bench',
    `flow-${shortSha}-p${values.providers}-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`,
  );
const loadStart = os.loadavg();
const services = await benchServices({ statements: values.statements });
const broker = await startBroker(
  services,
  { ...UNLIMITED, POU_MIN_STAKE: '1' },
  process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=.test-data/prof'] : [],
);
const base = broker.url;
try {
  const owner = await newClient(base);
  const providers: Signer[] = [(await registeredAgent(base, owner)).signer];
  while (providers.length < Number(values.providers))
    providers.push((await registeredAgent(base, await newClient(base))).signer);
  const members: Signer[] = [];
  // One owner per member: a committee seats one agent per owner, none of the provider's.
  for (let i = 0; i < 5; i++)
    members.push((await registeredAgent(base, await newClient(base), { stake: '10' })).signer);
  const byDid = new Map(members.map((m) => [m.did, m]));

  const deadline = Date.now() + Number(values.seconds) * 1000;
  let flows = 0;
  const latencies: number[] = [];
  const worker = async () => {
    while (Date.now() < deadline) {
      const t0 = performance.now();
      const client = newSigner();
      const receipt = await settledReceipt(base, client, providers[flows % providers.length]!);
      const path = `/api/receipts/${receipt.task_id}`;
      await Promise.all([
        ...receipt.committee.slice(0, 3).map((d: string) =>
          signed(base, byDid.get(d)!, 'POST', `${path}/attestations`, {
            type: 'AUDIT_PASS',
            score: 0.9,
            confidence: 0.9,
          }),
        ),
        signed(base, client, 'POST', `${path}/attestations`, { type: 'ACCEPTED', score: 1, confidence: 1 }),
      ]);
      const fin = (await (await fetch(`${base}${path}/finalize`, { method: 'POST' })).json()) as {
        status: string;
      };
      if (fin.status !== 'finalized') throw new Error(`flow ended ${JSON.stringify(fin)}`);
      flows += 1;
      latencies.push(performance.now() - t0);
    }
  };
  const db = new pg.Pool({ connectionString: services.databaseUrl, max: 1 });
  const waits = sampleWaits(db);
  let table: WaitTable | undefined;
  // CPU time per flow of the broker and of this load generator (the postgres group counts every
  // postgres process on the machine, other users' too).
  const processes = { broker: broker.pid, load: process.pid };
  if (values.statements) {
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await db.query('SELECT pg_stat_statements_reset()');
  }
  const cpuBefore = cpuSeconds(processes);
  const t0 = Date.now();
  let statements: StatementCost[] = [];
  await Promise.all(Array.from({ length: Number(values.workers) }, worker)).finally(async () => {
    table = waits.stop();
    if (values.statements) statements = await statementCosts(db, flows);
    await db.end();
  });
  const seconds = (Date.now() - t0) / 1000;
  const cpuUs = cpuPerRequest(cpuBefore, cpuSeconds(processes), flows);
  if (statements.length) {
    console.log('statements by database time per flow (calls, plan ms, exec ms):');
    for (const st of statements)
      console.log(
        `${st.calls_per_flow.toFixed(2).padStart(6)} ${st.plan_ms_per_flow.toFixed(3).padStart(7)} ${st.exec_ms_per_flow.toFixed(3).padStart(7)}  ${st.query}`,
      );
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!);
  const result = {
    workers: Number(values.workers),
    seconds,
    flows,
    flows_per_second: Math.round((flows / seconds) * 10) / 10,
    flow_p50_ms: pct(0.5),
    flow_p95_ms: pct(0.95),
    requests_per_flow: 10,
    providers: providers.length,
    ledger_lock_sample_share: table!.ledger_lock_sample_share,
    cpu_ms_per_flow: Object.fromEntries(
      ['broker', 'load', 'postgres'].map((g) => [g, Math.round((cpuUs[g] ?? 0) / 100) / 10]),
    ),
  };
  console.log(JSON.stringify(result));
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(
    out,
    JSON.stringify(
      {
        commit: git('rev-parse', 'HEAD') ?? 'unknown',
        short_sha: shortSha,
        dirty: (git('status', '--porcelain', '--untracked-files=no') ?? '') !== '',
        started_at: startedAt.toISOString(),
        node: process.version,
        cpus: os.cpus().length,
        loadavg_start: loadStart.map((x) => Math.round(x * 100) / 100),
        loadavg_end: os.loadavg().map((x) => Math.round(x * 100) / 100),
        ...result,
        waits: table,
        ...(values.statements ? { statements } : {}),
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`written ${out}`);
} finally {
  await broker.stop();
  await services.stop();
}

interface StatementCost {
  query: string;
  calls_per_flow: number;
  plan_ms_per_flow: number;
  exec_ms_per_flow: number;
}

/** The 25 statements with the most planning plus execution time since the reset, per flow. */
async function statementCosts(db: pg.Pool, flows: number): Promise<StatementCost[]> {
  const { rows } = await db.query<{ query: string; calls: string; plan: number; exec: number }>(
    `SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query, calls, total_plan_time AS plan,
            total_exec_time AS exec
       FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat%'
      ORDER BY total_plan_time + total_exec_time DESC LIMIT 25`,
  );
  const per = (x: number) => Math.round((x / Math.max(1, flows)) * 1000) / 1000;
  return rows.map((r) => ({
    query: r.query,
    calls_per_flow: per(Number(r.calls)),
    plan_ms_per_flow: per(r.plan),
    exec_ms_per_flow: per(r.exec),
  }));
}
