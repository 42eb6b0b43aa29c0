import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseEnv } from '../config/env.js';
import { start, type RunningBroker } from '../server.js';
import { startNatsServer, startRedisServer, type LocalService } from './child-service.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { freePort } from './free-port.js';
import { runEvery } from './run-every.js';

/** Reads the local admin token from DATA_DIR, generating it at first start (mode 600). */
async function localAdminToken(dataDir: string): Promise<{ token: string; created: boolean }> {
  const file = path.join(dataDir, 'admin-token');
  try {
    return { token: (await readFile(file, 'utf8')).trim(), created: false };
  } catch {
    const token = randomBytes(32).toString('base64url');
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    return { token, created: true };
  }
}

type Ports = { postgres?: number; valkey?: number; nats?: number };

/** The ports the services had last time in this data folder (ports.json), if any. */
async function savedPorts(dataDir: string): Promise<Ports> {
  try {
    return JSON.parse(await readFile(path.join(dataDir, 'ports.json'), 'utf8')) as Ports;
  } catch {
    return {};
  }
}

/**
 * What a tool outside needs to reach the local services (`source .data/services.env`): their URLs,
 * the broker's and the admin token's file. Mode 600: the database URL carries its password.
 */
async function writeServicesEnv(dataDir: string, urls: Record<string, string>): Promise<string> {
  const file = path.join(dataDir, 'services.env');
  const lines = [
    '# Written by npm start at each start: the local services of this data folder. Their ports stay',
    '# the same across restarts while they are free.',
    ...Object.entries(urls).map(([k, v]) => `${k}=${v}`),
  ];
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}

/**
 * `npm start`: the whole broker on one machine with no cluster. PostgreSQL comes from the npm
 * package when DATABASE_URL is unset; Valkey and NATS are started from redis-server / nats-server
 * when they are installed and REDIS_URL / NATS_URL are unset, else the broker runs on in-process
 * stand-ins and says it is degraded. Everything persists under DATA_DIR.
 */
export async function startLocalStack(): Promise<{ broker: RunningBroker; cleanup: () => Promise<void> }> {
  const env = parseEnv();
  const dataDir = path.resolve(env.DATA_DIR);
  await mkdir(dataDir, { recursive: true });
  // PostgreSQL runs as its own user when we are root; it must be able to reach its folder inside.
  await chmod(dataDir, 0o755);
  const started = Date.now();
  const services: { name: string; stop(): Promise<void> }[] = [];
  // Stops what started, newest first; every service is stopped even when another fails to.
  const cleanup = () =>
    runEvery(
      'stopping the local services',
      services
        .splice(0)
        .reverse()
        .map((s) => [s.name, () => s.stop()] as const),
    );
  try {
    const overrides: Record<string, string> = {};
    // The ports of the last start when they are free, so URLs saved elsewhere stay good.
    const last = await savedPorts(dataDir);
    const ports: Ports = {};
    if (!env.DATABASE_URL) {
      ports.postgres = await freePort(last.postgres);
      const pg = await startEmbeddedPostgres({ dir: path.join(dataDir, 'postgres'), port: ports.postgres });
      services.push({ name: 'PostgreSQL', stop: () => pg.stop() });
      overrides.DATABASE_URL = pg.url;
    }
    const optional = async (key: 'REDIS_URL' | 'NATS_URL', run: () => Promise<LocalService | undefined>) => {
      if (env[key] || !env.LOCAL_SERVICES) return;
      const svc = await run().catch((err: Error) => {
        console.warn(`could not start a local server for ${key}: ${err.message}`);
        return undefined;
      });
      if (svc) {
        services.push({ name: key === 'REDIS_URL' ? 'Valkey' : 'NATS', stop: () => svc.stop() });
        overrides[key] = svc.url;
      }
    };
    await Promise.all([
      optional('REDIS_URL', async () => {
        ports.valkey = await freePort(last.valkey);
        return startRedisServer(path.join(dataDir, 'valkey'), ports.valkey);
      }),
      optional('NATS_URL', async () => {
        ports.nats = await freePort(last.nats);
        return startNatsServer(path.join(dataDir, 'nats'), ports.nats);
      }),
    ]);
    await writeFile(path.join(dataDir, 'ports.json'), `${JSON.stringify(ports)}\n`);
    const admin = env.ADMIN_TOKEN ? undefined : await localAdminToken(dataDir);
    if (admin) overrides.ADMIN_TOKEN = admin.token;

    const broker = await start({
      env: { MIGRATE_ON_START: 'true', SCHEDULER_ENABLED: 'true', ...process.env, ...overrides },
    });
    const merged = { ...process.env, ...overrides };
    const servicesEnv = await writeServicesEnv(dataDir, {
      BROKER_URL: `http://localhost:${broker.port}`,
      ...(merged.DATABASE_URL ? { DATABASE_URL: merged.DATABASE_URL } : {}),
      ...(merged.REDIS_URL ? { REDIS_URL: merged.REDIS_URL } : {}),
      ...(merged.NATS_URL ? { NATS_URL: merged.NATS_URL } : {}),
      ...(admin ? { ADMIN_TOKEN_FILE: path.join(dataDir, 'admin-token') } : {}),
    });
    printBanner(broker, Date.now() - started, servicesEnv, admin);
    return { broker, cleanup };
  } catch (err) {
    await cleanup().catch((stopErr: Error) => console.error(stopErr.message));
    throw err;
  }
}

function printBanner(
  broker: RunningBroker,
  ms: number,
  servicesEnv: string,
  admin?: { token: string; created: boolean },
) {
  const base = `http://localhost:${broker.port}`;
  const lines = [
    '',
    `AINP broker ${broker.ctx.version} ready in ${ms} ms`,
    `  API      ${base}/api/v1/agents`,
    `  health   ${base}/health`,
    `  docs     ${base}/docs   (OpenAPI: ${base}/openapi.json)`,
    `  metrics  ${base}/metrics`,
    `  services ${servicesEnv}   (source it for DATABASE_URL, REDIS_URL, NATS_URL)`,
  ];
  if (admin) {
    lines.push(
      `  admin token ${admin.created ? 'generated' : 'read'} from ${path.join(broker.ctx.env.DATA_DIR, 'admin-token')}`,
      '  create an API key:',
      `    curl -s -X POST ${base}/api/admin/api-keys -H "Authorization: Bearer $(cat ${path.join(broker.ctx.env.DATA_DIR, 'admin-token')})" \\`,
      `      -H 'Content-Type: application/json' -d '{"name":"dev","address":"0x${'0'.repeat(39)}1"}'`,
    );
  }
  lines.push('  Ctrl-C stops everything.', '');
  console.log(lines.join('\n'));
}
