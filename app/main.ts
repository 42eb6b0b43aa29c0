import path from 'node:path';
import { parseArgs } from 'node:util';
import { EnvError, parseEnv, type Env } from './config/env.js';
import { closeContext, createContext } from './context.js';
import { createPool, type Db } from './data/db.js';
import { findJob, jobCatalogue } from './jobs/catalogue.js';
import { runJob } from './jobs/run-job.js';
import { startLocalStack } from './local/local-stack.js';
import { createLogger, exitOnUncaught } from './logger.js';
import type { Logger } from 'pino';
import { loadMigrations, migrateDown, migrateUp, migrationStatus, MigrationError } from './migrate/runner.js';
import { appVersion, start, type RunningBroker } from './server.js';

/**
 * The one entry point of the image and of `npm start`:
 *   local               the local stack (default): embedded PostgreSQL, local Valkey/NATS when found
 *   serve               the API server (Kubernetes Deployment)
 *   migrate up|down|status [--steps N]   the migration runner (Kubernetes Job)
 *   job <name>          one run of a periodic job (Kubernetes CronJob)
 */
const USAGE = `usage: main.js [local | serve | migrate up|down|status [--steps N] | job <name>]`;

async function main(argv: string[]): Promise<number> {
  // Before the environment is read, so its own level cannot silence it; JSON, so nothing async
  // (a pretty transport runs in a worker) stands between the line and the exit.
  exitOnUncaught(createLogger({ level: 'fatal', pretty: false }));
  const [command = 'local', ...rest] = argv;
  switch (command) {
    case 'local':
      return runUntilSignal(await startLocalStack(), { stopWithParent: true });
    case 'serve':
      return runUntilSignal(await serve());
    case 'migrate':
      return migrate(rest);
    case 'job':
      return job(rest[0]);
    default:
      console.error(USAGE);
      return 2;
  }
}

async function serve(): Promise<{ broker: RunningBroker; cleanup?: () => Promise<void> }> {
  const env = parseEnv();
  if (!env.DATABASE_URL)
    throw new EnvError(['DATABASE_URL: required by `serve` (use `local` for embedded PostgreSQL)']);
  if (env.NODE_ENV === 'production' && !env.ADMIN_TOKEN) {
    throw new EnvError(['ADMIN_TOKEN: required in production (mount it from a Secret)']);
  }
  return { broker: await start() };
}

/**
 * Serves until SIGTERM/SIGINT, then drains; a second signal or the bound forces the exit.
 * `stopWithParent` (the local stack) also stops when the parent process goes away: `npm start`
 * runs the broker under `sh -c`, and a SIGTERM sent to npm alone ends npm and the shell but never
 * reaches the broker, which would keep PostgreSQL, Valkey and NATS running with nobody to stop them.
 */
function runUntilSignal(
  running: { broker: RunningBroker; cleanup?: () => Promise<void> },
  { stopWithParent = false } = {},
): Promise<number> {
  const { broker, cleanup } = running;
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (reason: string) => {
      stopping = true;
      broker.ctx.logger.info({ reason }, 'stopping');
      setTimeout(() => {
        broker.ctx.logger.error('shutdown did not finish in time; exiting');
        process.exit(1);
      }, broker.ctx.env.SHUTDOWN_TIMEOUT_MS + 5000).unref();
      void broker
        .stop()
        .then(() => cleanup?.())
        .then(
          () => resolve(0),
          (err: unknown) => {
            console.error(err);
            resolve(1);
          },
        );
    };
    // A second signal while draining forces the exit.
    const onSignal = (signal: NodeJS.Signals) => (stopping ? process.exit(130) : stop(signal));
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (stopWithParent) {
      const parent = process.ppid;
      const watch = setInterval(() => {
        if (process.ppid === parent) return;
        clearInterval(watch);
        if (!stopping) stop('parent process exited');
      }, 500);
      watch.unref();
    }
  });
}

async function migrate(args: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { steps: { type: 'string', default: '1' } },
  });
  const action = positionals[0] ?? 'up';
  const env = parseEnv();
  const logger = createLogger({ level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });
  if (!env.DATABASE_URL) throw new EnvError(['DATABASE_URL: required by `migrate`']);
  const db = createPool(poolOptions(env), logger);
  try {
    const files = await loadMigrations(path.resolve(env.MIGRATIONS_DIR));
    await waitForDatabase(db, env.MIGRATE_CONNECT_RETRY_SECONDS * 1000, logger);
    if (action === 'up') {
      const applied = await migrateUp(db, files);
      logger.info({ applied }, applied.length ? 'migrations applied' : 'schema already at head');
    } else if (action === 'down') {
      const steps = Number(values.steps);
      if (!Number.isInteger(steps) || steps < 1)
        throw new MigrationError('--steps must be a positive integer');
      logger.info({ reverted: await migrateDown(db, files, steps) }, 'migrations reverted');
    } else if (action === 'status') {
      const s = await migrationStatus(db, files);
      console.log(
        JSON.stringify(
          {
            applied: s.applied.map((a) => `${String(a.version).padStart(4, '0')}_${a.name}`),
            pending: s.pending.map((m) => m.file),
            applied_by_newer_release: s.unknown.map((a) => a.version),
            modified: s.modified,
          },
          null,
          2,
        ),
      );
      return s.modified.length ? 1 : 0;
    } else {
      console.error(USAGE);
      return 2;
    }
    return 0;
  } catch (err) {
    logger.error({ err: err instanceof MigrationError ? err.message : err }, 'migration failed');
    return 1;
  } finally {
    await db.end();
  }
}

async function job(name: string | undefined): Promise<number> {
  const definition = name ? findJob(name) : undefined;
  if (!definition) {
    console.error(
      `unknown job ${name ?? '(none)'}; jobs: ${jobCatalogue.map((j) => j.name).join(', ') || '(none)'}`,
    );
    return 2;
  }
  const env = parseEnv();
  const logger = createLogger({ level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });
  const ctx = await createContext(env, logger, appVersion(env));
  const abort = new AbortController();
  // A CronJob's pod gets SIGTERM on deadline or eviction: stop claiming work, finish the batch.
  process.once('SIGTERM', () => abort.abort());
  try {
    const result = await runJob(ctx, definition, abort.signal);
    return result.outcome === 'success' ? 0 : 1;
  } finally {
    await closeContext(ctx);
  }
}

/**
 * Retries `SELECT 1` with a growing pause (0.5 s doubling to 5 s) until the database answers or
 * `budgetMs` is spent, then fails naming the last error: the migration Job may start while the
 * database is still initialising, and must neither fail at once nor wait forever.
 */
async function waitForDatabase(db: Db, budgetMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + budgetMs;
  let pause = 500;
  for (let attempt = 1; ; attempt++) {
    try {
      await db.query('SELECT 1');
      if (attempt > 1) logger.info({ attempt }, 'the database answers');
      return;
    } catch (err) {
      const message = (err as Error).message;
      if (Date.now() + pause > deadline)
        throw new MigrationError(
          `the database did not answer within ${Math.round(budgetMs / 1000)} s (${attempt} attempts): ${message}`,
        );
      logger.warn({ attempt, err: message, retry_in_ms: pause }, 'waiting for the database');
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 5_000);
    }
  }
}

function poolOptions(env: Env) {
  return {
    url: env.DATABASE_URL!,
    max: 2,
    idleTimeoutMs: env.DB_POOL_IDLE_TIMEOUT_MS,
    connectionTimeoutMs: env.DB_CONNECTION_TIMEOUT_MS,
    statementTimeoutMs: 0,
    applicationName: 'ainp-migrate',
  };
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof EnvError ? err.message : err);
    process.exit(1);
  },
);
