/**
 * Round trips to PostgreSQL and Valkey per request of a write, the broker's beside the floor
 * app's (bench/floor-app.ts), and the CPU each process spent per request:
 *   npm run bench:round-trips -- [--op register|attest] [--seconds 5] [--connections 50]
 * PostgreSQL runs with pg_stat_statements, reset before each measured run: every statement the
 * run sent (by text, with its calls and rows), BEGIN and COMMIT included, over the 2xx responses.
 * Valkey's command counts come from INFO commandstats (CONFIG RESETSTAT before each run). The
 * floor is measured first, then the broker, each after a warm-up. Everything else in the database
 * (the broker's relays polling the outbox) is counted too, and is part of what the broker costs.
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { createClient } from 'redis';
import { agentBody, newClient } from '../test/helpers/api.js';
import { attestationCast } from './attestation-cast.js';
import { cannon } from './cannon.js';
import { cpuPerRequest, cpuSeconds } from './cpu.js';
import { benchServices, startBroker, startFloor, UNLIMITED } from './services.js';

const { values } = parseArgs({
  options: {
    op: { type: 'string', default: 'register' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
  },
});
const op = values.op!;
if (!['register', 'attest'].includes(op)) throw new Error('--op: register or attest');
const seconds = Number(values.seconds);
const connections = Number(values.connections);
if (!(seconds > 0) || !(connections >= 1)) throw new Error('--seconds and --connections must be positive');

const services = await benchServices({ statements: true });
const stops: (() => Promise<unknown>)[] = [() => services.stop()];
const db = new pg.Pool({ connectionString: services.databaseUrl, max: 1 });
const valkey = createClient({ url: services.redisUrl });
try {
  await valkey.connect();
  await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  const broker = await startBroker(services, {
    ...UNLIMITED,
    POU_M: '50',
    POU_K: '3',
    POU_MIN_STAKE: '1',
    SCHEDULER_ENABLED: 'false',
  });
  stops.unshift(() => broker.stop());
  const client = await newClient(broker.url);
  const floor = await startFloor(services, client.key, client.address, UNLIMITED);
  stops.unshift(() => floor.stop());
  const cast = op === 'attest' ? await attestationCast(broker.url, 50) : undefined;

  /** The load of one run against `server`: `duration` seconds of registrations, or `n` attestations. */
  const load = async (server: string, duration: number): Promise<autocannon.Options & { url: string }> => {
    if (cast) {
      const n = Math.max(connections * 4, Math.round(duration * 800));
      return { connections, ...cast.attestRun(await cast.attestations(n + connections), n, server) };
    }
    return {
      connections,
      duration,
      url: `${server}/api/v1/agents/register`,
      method: 'POST',
      headers: { Authorization: `Bearer ${client.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(agentBody({ name: 'bench registered' })),
    };
  };

  const report: Record<string, unknown>[] = [];
  for (const [name, server, pid] of [
    ['floor', floor.url, floor.pid],
    ['broker', broker.url, broker.pid],
  ] as const) {
    await cannon(await load(server, 1)); // warm-up
    const opts = await load(server, seconds);
    await db.query('SELECT pg_stat_statements_reset()');
    await valkey.sendCommand(['CONFIG', 'RESETSTAT']);
    const cpuBefore = cpuSeconds({ [name]: pid, load: process.pid });
    const run = await cannon(opts);
    const cpu = cpuPerRequest(cpuBefore, cpuSeconds({ [name]: pid, load: process.pid }), run.requests);
    const { rows } = await db.query<{ query: string; calls: string; rows: string }>(
      `SELECT query, calls, rows FROM pg_stat_statements
        WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY calls DESC`,
    );
    const stats = String(await valkey.sendCommand(['INFO', 'commandstats']));
    const commands = [...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)]
      .map(([, cmd, calls]) => [cmd!, Number(calls)] as const)
      .filter(([cmd]) => cmd !== 'info' && cmd !== 'config');
    const per = (n: number) => Math.round((1000 * n) / Math.max(1, run.requests)) / 1000;
    const statements = rows.map((r) => ({
      per_request: per(Number(r.calls)),
      calls: Number(r.calls),
      rows: Number(r.rows),
      query: r.query.replace(/\s+/g, ' ').slice(0, 100),
    }));
    const entry = {
      app: name,
      requests: run.requests,
      rps: run.rps,
      ok: run.ok,
      statuses: run.statuses,
      cpu_us_per_request: cpu,
      postgres_statements_per_request: per(statements.reduce((a, s) => a + s.calls, 0)),
      valkey_commands_per_request: per(commands.reduce((a, [, n]) => a + n, 0)),
      statements,
      valkey: Object.fromEntries(commands.map(([c, n]) => [c, { calls: n, per_request: per(n) }])),
    };
    report.push(entry);
    console.log(
      `\n${name}: ${run.requests} requests, ${run.rps} req/s${run.ok ? '' : ` NOT OK ${JSON.stringify(run.statuses)}`}`,
    );
    console.log(`  CPU µs per request: ${JSON.stringify(cpu)}`);
    console.log(`  PostgreSQL statements per request: ${entry.postgres_statements_per_request}`);
    for (const s of statements.slice(0, 12))
      console.log(
        `    ${s.per_request.toFixed(3).padStart(7)}  ${s.calls.toString().padStart(6)} calls  ${s.query}`,
      );
    console.log(
      `  Valkey commands per request: ${entry.valkey_commands_per_request} ${JSON.stringify(entry.valkey)}`,
    );
  }
} finally {
  await valkey.quit().catch(() => undefined);
  await db.end().catch(() => undefined);
  for (const stop of stops) await stop().catch((e: unknown) => console.error(e));
}
