/**
 * `npm run try`: the first hour on the loopback cluster, in one command (issue 36, item 3). It
 * brings up, each only when it is not up already:
 *  1. the loopback control plane (`npm run cluster -- up`: kwok nodes, so pods are scheduled and
 *     reported running but no container runs);
 *  2. the local services (`npm start`'s local stack in .data/try/local: PostgreSQL, Valkey, NATS,
 *     and a broker on loopback that /ready is asked of, as the cluster's pods would be);
 *  3. a Pulumi work folder, .data/try/pulumi: a file:// backend, a generated passphrase, copies of
 *     the `local` stack files (the app stack `local` and the cluster stack `local`), which the
 *     stack's secrets are written into; the repository's own stack files are never touched;
 *  4. `npm run up:cluster -- --stack local`, the app stack's secrets (the local services' URLs and
 *     admin token, as `pulumi config set --secret` would), and `npm run up -- --stack local`;
 * and writes .data/try/env (KUBECONFIG, PATH with .tools/bin first, the PULUMI_* variables of that
 * backend, AINP_PULUMI_WORKDIR, AINP_READY_URL) for the commands it prints next.
 * `npm run try -- down` stops the broker and its services and the cluster, and removes the Pulumi
 * folder (its state describes a cluster that is gone); the local services' data stays.
 * Exit status: 0 done, 1 failed (one line saying what and what to do), 2 usage.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './k6.js';

const exec = promisify(execFile);

const DIR = path.join(ROOT, '.data/try');
const LOCAL = path.join(DIR, 'local');
const WORK = path.join(DIR, 'pulumi');
const ENV_FILE = path.join(DIR, 'env');
const STATE = path.join(DIR, 'try.json');
const PID_FILE = path.join(DIR, 'local.pid');
const BIN = process.env.AINP_TOOLS_BIN ?? path.join(ROOT, '.tools/bin');
/** What `npm run cluster` records its cluster in (infra/cluster/cli.ts). */
const CLUSTER_POINTER = process.env.AINP_CLUSTER_STATE ?? path.join(ROOT, '.test-data/cluster.json');
const TOOLS = ['pulumi', 'pulumi-resource-kubernetes', 'kubectl', 'etcd', 'kube-apiserver', 'kwok'];
const rel = (p: string) => path.relative(ROOT, p) || '.';

/** The broker's pid, its wrapper shell's process group, and its port (kept for the next start). */
type TryState = { pid?: number; group?: number; port?: number };
const readState = (): TryState =>
  existsSync(STATE) ? (JSON.parse(readFileSync(STATE, 'utf8')) as TryState) : {};

class TryError extends Error {}

function alive(pid: number | undefined): pid is number {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A free loopback port, the preferred one when it is free. */
function freePort(preferred?: number): Promise<number> {
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.on('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
      });
    });
  return preferred ? listen(preferred).catch(() => listen(0)) : listen(0);
}

/** Runs one of the project's commands as its npm script would, its output on this terminal. */
function step(shown: string, file: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  console.log(`\n$ ${shown}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, file), ...args], {
      cwd: ROOT,
      env,
      stdio: 'inherit',
    });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(
            new TryError(
              `\`${shown}\` failed (exit ${code}), its last line says why; npm run try again after the fix, or npm run try -- down to stop what started`,
            ),
          ),
    );
  });
}

const readEnvFile = (file: string) =>
  Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

async function readyAt(url: string): Promise<boolean> {
  return fetch(url, { signal: AbortSignal.timeout(3000) }).then(
    (r) => r.status === 200,
    () => false,
  );
}

/**
 * The local stack (`npm start`, app/main.ts local) in its own process group, under a shell that
 * waits for it: the broker stops when its parent goes, and this command's process ends now.
 */
async function startLocalServices(): Promise<{ url: string; services: Record<string, string> }> {
  const state = readState();
  const servicesFile = path.join(LOCAL, 'services.env');
  if (alive(state.pid) && existsSync(servicesFile)) {
    const services = readEnvFile(servicesFile);
    if (await readyAt(`${services.BROKER_URL}/ready`)) {
      console.log(`local services already up: broker ${services.BROKER_URL} (${rel(LOCAL)})`);
      return { url: services.BROKER_URL!, services };
    }
  }
  mkdirSync(LOCAL, { recursive: true });
  rmSync(servicesFile, { force: true });
  rmSync(PID_FILE, { force: true });
  const port = await freePort(state.port);
  const log = path.join(DIR, 'local.log');
  console.log(`\n$ DATA_DIR=${rel(LOCAL)} PORT=${port} npm start   (in the background; log: ${rel(log)})`);
  const out = openSync(log, 'a');
  const child = spawn(
    'bash',
    // scripts/with-node.sh execs the pinned Node.js, as `npm start` does: $! is the broker itself.
    [
      '-c',
      `bash scripts/with-node.sh node --import tsx app/main.ts local & echo $! > "$0"; wait $!`,
      PID_FILE,
    ],
    {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, DATA_DIR: LOCAL, PORT: String(port), LOG_PRETTY: 'false' },
    },
  );
  child.unref();
  const deadline = Date.now() + 180_000;
  for (;;) {
    const pid = existsSync(PID_FILE) ? Number(readFileSync(PID_FILE, 'utf8').trim()) || undefined : undefined;
    if (existsSync(servicesFile) && pid) {
      const services = readEnvFile(servicesFile);
      if (services.BROKER_URL && (await readyAt(`${services.BROKER_URL}/ready`))) {
        writeFileSync(STATE, `${JSON.stringify({ pid, group: child.pid, port })}\n`);
        return { url: services.BROKER_URL, services };
      }
    }
    if (child.exitCode !== null || (pid && !alive(pid)) || Date.now() > deadline) {
      // Whatever of it started goes again: the next `npm run try` starts over.
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      const tail = readFileSync(log, 'utf8').trim().split('\n').slice(-15).join('\n');
      throw new TryError(
        `the local services did not come up (${Date.now() > deadline ? 'no /ready in 180 s' : 'the broker exited'}); ` +
          `the last lines of ${rel(log)}:\n${tail}\nfix what they say, then run npm run try again`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The Pulumi work folder: the project file linked, the `local` stack files copied (they get the secrets). */
function pulumiWorkFolder(): void {
  mkdirSync(path.join(WORK, 'state'), { recursive: true });
  mkdirSync(path.join(WORK, 'cluster-stack'), { recursive: true });
  const link = (target: string, at: string) => existsSync(at) || symlinkSync(target, at);
  const copy = (from: string, to: string) => existsSync(to) || copyFileSync(from, to);
  link(path.join(ROOT, 'Pulumi.yaml'), path.join(WORK, 'Pulumi.yaml'));
  // The CLI checks that Pulumi.yaml's `main` exists, even for the inline program.
  link(path.join(ROOT, 'infra'), path.join(WORK, 'infra'));
  copy(path.join(ROOT, 'Pulumi.local.yaml'), path.join(WORK, 'Pulumi.local.yaml'));
  for (const f of ['Pulumi.yaml', 'index.ts'])
    link(path.join(ROOT, 'infra/cluster-stack', f), path.join(WORK, 'cluster-stack', f));
  copy(
    path.join(ROOT, 'infra/cluster-stack/Pulumi.local.yaml'),
    path.join(WORK, 'cluster-stack/Pulumi.local.yaml'),
  );
}

/** The environment of every later command (written to .data/try/env, and used here). */
function firstHourEnv(kubeconfig: string, readyUrl: string): Record<string, string> {
  const passFile = path.join(DIR, 'passphrase');
  if (!existsSync(passFile))
    writeFileSync(passFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  return {
    KUBECONFIG: kubeconfig,
    PULUMI_BACKEND_URL: `file://${path.join(WORK, 'state')}`,
    // Protects only this folder's throw-away state; generated once, kept in .data/try/passphrase.
    PULUMI_CONFIG_PASSPHRASE: readFileSync(passFile, 'utf8').trim(),
    PULUMI_HOME: path.join(WORK, 'home'),
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    // Offline: the Kubernetes provider comes from .tools/bin on PATH, never from the internet.
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
    AINP_PULUMI_WORKDIR: WORK,
    AINP_READY_URL: readyUrl,
  };
}

function writeEnvFile(vars: Record<string, string>) {
  const lines = [
    '# Written by npm run try: the loopback first hour. `source .data/try/env` in the shell you run',
    '# the next commands from (npm run health, pulumi, kubectl, npm run up, npm run rollback).',
    `export PATH=${BIN}:$PATH`,
    ...Object.entries(vars).map(([k, v]) => `export ${k}=${v}`),
  ];
  writeFileSync(ENV_FILE, `${lines.join('\n')}\n`, { mode: 0o600 });
}

async function up(): Promise<void> {
  const started = Date.now();
  const missing = TOOLS.filter((t) => !existsSync(path.join(BIN, t)));
  if (missing.length)
    throw new TryError(
      `${missing.join(', ')} not in ${rel(BIN)}: run bash scripts/tools.sh cluster first (it copies them from the tools cache, or builds them)`,
    );
  mkdirSync(DIR, { recursive: true });
  const base: NodeJS.ProcessEnv = { ...process.env, PATH: `${BIN}:${process.env.PATH}` };
  delete base.AINP_PULUMI_WORKDIR;

  let cluster = existsSync(CLUSTER_POINTER)
    ? (JSON.parse(readFileSync(CLUSTER_POINTER, 'utf8')) as {
        dir: string;
        kubeconfig: string;
        server: string;
      })
    : undefined;
  if (cluster && existsSync(cluster.dir)) {
    // Recorded and its folder there: it must still answer (a reboot ends its processes).
    const answers = await exec(path.join(BIN, 'kubectl'), [
      '--kubeconfig',
      cluster.kubeconfig,
      'get',
      '--raw',
      '/readyz',
      '--request-timeout=5s',
    ]).then(
      () => true,
      () => false,
    );
    if (!answers)
      throw new TryError(
        `the cluster recorded in ${rel(CLUSTER_POINTER)} (${cluster.server}) does not answer: run npm run try -- down, then npm run try`,
      );
    console.log(`cluster already up at ${cluster.server}`);
  } else {
    await step('npm run cluster -- up', 'infra/cluster/cli.ts', ['up'], base);
    cluster = JSON.parse(readFileSync(CLUSTER_POINTER, 'utf8')) as typeof cluster;
  }

  const local = await startLocalServices();
  // Without a URL the stack would install Valkey's or NATS's chart, which no repository serves offline.
  const absent = ['REDIS_URL', 'NATS_URL'].filter((k) => !local.services[k]);
  if (absent.length)
    throw new TryError(
      `the local stack runs without ${absent.join(' and ')} (redis-server/valkey-server or nats-server is not installed): ` +
        'run bash scripts/install-deps.sh, then npm run try -- down and npm run try',
    );
  const readyUrl = `${local.url}/ready`;
  pulumiWorkFolder();
  const vars = firstHourEnv(cluster!.kubeconfig, readyUrl);
  writeEnvFile(vars);
  const env = { ...base, ...vars };
  Object.assign(process.env, env);

  await step(
    'npm run up:cluster -- --stack local',
    'infra/ops/up.ts',
    ['--cluster', '--stack', 'local'],
    env,
  );

  // The app stack and its secrets: what `pulumi stack init local` and `pulumi config set --secret`
  // do, from the local services' URLs (.data/try/local/services.env) and admin token.
  const { createOrSelectStack } = await import('./pulumi-stack.js');
  const stack = await createOrSelectStack('local');
  const s = local.services;
  const adminToken = readFileSync(s.ADMIN_TOKEN_FILE ?? path.join(LOCAL, 'admin-token'), 'utf8').trim();
  await stack.setAllConfig({
    'ainp:databaseUrl': { value: s.DATABASE_URL!, secret: true },
    'ainp:redisUrl': { value: s.REDIS_URL!, secret: true },
    'ainp:natsUrl': { value: s.NATS_URL!, secret: true },
    'ainp:adminToken': { value: adminToken, secret: true },
  });
  console.log(
    `\nstack local: databaseUrl, redisUrl, natsUrl and adminToken set as secrets from ${rel(path.join(LOCAL, 'services.env'))}`,
  );
  await step(
    'npm run up -- --stack local',
    'infra/ops/up.ts',
    ['--stack', 'local', '--message', 'npm run try: first deploy'],
    env,
  );

  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(
    [
      '',
      `npm run try: the loopback first hour is up (${seconds} s)`,
      `  cluster  ${cluster!.server}, context ainp-local (kwok nodes: pods are scheduled and reported running; no container runs)`,
      `  broker   ${local.url} (the local services in ${rel(LOCAL)}; /ready is asked here, not through a port-forward)`,
      `  stacks   cluster stack local and app stack local, state in ${rel(path.join(WORK, 'state'))}, stack files in ${rel(WORK)}`,
      'next, in this shell:',
      '  source .data/try/env',
      '  kubectl -n ainp-local get deployments,pods,jobs,cronjobs',
      '  npm run health -- --stack local --ready-url "$AINP_READY_URL"',
      '  npm run preview -- --stack local',
      `  pulumi config set ainp:imageDigest sha256:${'2'.repeat(64)} --stack local --cwd "$AINP_PULUMI_WORKDIR"`,
      '  npm run up -- --stack local --message "second deploy"',
      '  npm run rollback -- --stack local',
      '  npm run try -- down',
      '(docs/RUNBOOK.md, "The loopback first hour", runs these and says what each shows)',
    ].join('\n'),
  );
}

async function down(): Promise<void> {
  const state = readState();
  if (alive(state.pid)) {
    process.kill(state.pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (alive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (alive(state.pid)) process.kill(state.pid, 'SIGKILL');
    console.log('local services stopped');
  }
  // The wrapper shell's group: whatever the broker left (it stops its services itself).
  if (state.group) {
    try {
      process.kill(-state.group, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(PID_FILE, { force: true });
  writeFileSync(STATE, `${JSON.stringify({ port: state.port })}\n`);
  if (existsSync(CLUSTER_POINTER))
    await step('npm run cluster -- down', 'infra/cluster/cli.ts', ['down'], process.env);
  rmSync(WORK, { recursive: true, force: true });
  rmSync(ENV_FILE, { force: true });
  console.log(`npm run try: down (the local services' data stays in ${rel(LOCAL)})`);
}

async function main(command: string | undefined) {
  if (command !== undefined && command !== 'up' && command !== 'down') {
    process.stderr.write('usage: npm run try [-- up|down]\n');
    return 2;
  }
  try {
    await (command === 'down' ? down() : up());
    return 0;
  } catch (err) {
    const message = err instanceof TryError ? err.message : (err as Error).message.split('\n')[0];
    process.stderr.write(`npm run try: ${message}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`)
  void main(process.argv[2]).then((code) => process.exit(code));
