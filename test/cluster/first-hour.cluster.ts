import { execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, stopCluster, type ClusterState } from '../../infra/cluster/control-plane.js';

/**
 * The RUNBOOK's loopback first hour (issue 36), run exactly as docs/RUNBOOK.md prints it: the
 * `sh` block of "The loopback first hour" is read from the document of a clone of HEAD (a clean
 * checkout, as an operator starts from) and run line by line in one bash, as a reader pastes it,
 * through `npm run try`, health, a second deploy and a rollback without --force, to
 * `npm run try -- down`. Before that last line, the failures that need the real Pulumi engine or
 * API server are provoked in the same shell, and their one-line messages checked (issue 36,
 * item 5). The whole transcript is kept in .test-data/first-hour-transcript.log.
 */
const exec = promisify(execFile);
const TRANSCRIPT = path.join(ROOT, '.test-data/first-hour-transcript.log');
const DIGEST_1 = (
  parse(readFileSync(path.join(ROOT, 'Pulumi.local.yaml'), 'utf8')) as { config: Record<string, string> }
).config['ainp:imageDigest']!;
const DIGEST_2 = `sha256:${'2'.repeat(64)}`;
const IMAGE = 'ghcr.io/ainp/broker';

/** The commands of the RUNBOOK's "The loopback first hour" block, one per line. */
export function firstHourCommands(runbook: string): string[] {
  const start = runbook.indexOf('\n## The loopback first hour\n');
  if (start < 0) throw new Error('docs/RUNBOOK.md has no "The loopback first hour" section');
  const fence = runbook.indexOf('```sh\n', start);
  const end = runbook.indexOf('\n```', fence + 6);
  return runbook
    .slice(fence + 6, end)
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'));
}

/** Provoked failures, run in the same shell after the health check that follows the rollback. */
const CHECKS: [string, string][] = [
  ['no-such-stack', 'npm run --silent up -- --stack nosuch'],
  [
    'invalid-config',
    'pulumi config set ainp:pouK 9 --stack local --cwd "$AINP_PULUMI_WORKDIR" && npm run --silent preview -- --stack local',
  ],
  ['invalid-config-reset', 'pulumi config set ainp:pouK 3 --stack local --cwd "$AINP_PULUMI_WORKDIR"'],
  [
    'no-cluster-stack',
    'pulumi config set ainp:clusterStack organization/ainp-cluster/nosuch --stack local --cwd "$AINP_PULUMI_WORKDIR" && npm run --silent preview -- --stack local',
  ],
  [
    'no-cluster-stack-reset',
    'pulumi config set ainp:clusterStack organization/ainp-cluster/local --stack local --cwd "$AINP_PULUMI_WORKDIR"',
  ],
  ['port-forward', 'npm run --silent health -- --stack local'],
  ['kubectl-fails', 'npm run --silent health -- --namespace ainp-local --context nosuch'],
];

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** One bash script: each command shown as `$ command`, run, and its exit status marked. */
function script(commands: string[]): string {
  const lines = ['exec 2>&1'];
  const add = (id: string, cmd: string) =>
    lines.push(
      `printf '\\n@@@ begin %s\\n$ %s\\n' ${quote(id)} ${quote(cmd)}`,
      cmd,
      `printf '@@@ end %s %s\\n' ${quote(id)} "$?"`,
    );
  commands.forEach((cmd, i) => {
    // The provoked failures go in before the last line (`npm run try -- down`), while all is up.
    if (i === commands.length - 1) for (const [id, check] of CHECKS) add(`check:${id}`, check);
    add(`run:${i}`, cmd);
  });
  return `${lines.join('\n')}\n`;
}

type Section = { id: string; out: string; exit: number };
function sections(transcript: string): Map<string, Section> {
  const found = new Map<string, Section>();
  for (const m of transcript.matchAll(/@@@ begin (\S+)\n\$ [^\n]*\n([\s\S]*?)\n?@@@ end \1 (\d+)/g))
    found.set(m[1]!, { id: m[1]!, out: m[2]!, exit: Number(m[3]) });
  return found;
}

let clone: string;
let commands: string[];
let head: string;
let transcript = '';
let got: Map<string, Section>;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  clone = path.join(mkdtempSync(path.join(os.tmpdir(), 'ainp-first-hour-')), 'src');
  // mkdtemp makes it 0700; as root, embedded PostgreSQL runs as its own user and must traverse it.
  chmodSync(path.dirname(clone), 0o755);
  await exec('git', ['clone', '--quiet', ROOT, clone]);
  for (const d of ['node_modules', '.tools']) symlinkSync(path.join(ROOT, d), path.join(clone, d));
  head = (await exec('git', ['rev-parse', 'HEAD'], { cwd: clone })).stdout.trim();
  commands = firstHourCommands(readFileSync(path.join(clone, 'docs/RUNBOOK.md'), 'utf8'));
  // A reader's shell: none of the lane's own cluster, backend or work folder.
  env = { ...process.env };
  for (const k of Object.keys(env))
    if (
      k.startsWith('PULUMI_') ||
      ['AINP_CLUSTER_STATE', 'AINP_PULUMI_WORKDIR', 'KUBECONFIG', 'KUBECTL'].includes(k)
    )
      delete env[k];
  const node = (await exec('bash', [path.join(ROOT, 'scripts/node.sh')])).stdout.trim();
  env.PATH = `${node}:${env.PATH}`;
  writeFileSync(path.join(clone, '.first-hour.sh'), script(commands));
  const started = Date.now();
  transcript = await new Promise<string>((resolve) => {
    const child = spawn('bash', ['.first-hour.sh'], { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), 900_000);
    child.once('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
  mkdirSync(path.dirname(TRANSCRIPT), { recursive: true });
  writeFileSync(
    TRANSCRIPT,
    `# the loopback first hour, ${new Date().toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s, commit ${head}\n` +
      transcript.replace(/^@@@ begin \S+\n/gm, '').replace(/^@@@ end \S+ (\d+)$/gm, '(exit $1)'),
  );
  got = sections(transcript);
}, 1_000_000);

afterAll(async () => {
  if (!clone) return;
  // A failed run may have stopped before its last line: take everything down as the RUNBOOK does.
  if (got?.get(`run:${commands.length - 1}`)?.exit !== 0)
    await exec('npm', ['run', '--silent', 'try', '--', 'down'], { cwd: clone, env }).catch(() => undefined);
  const pointer = path.join(clone, '.test-data/cluster.json');
  if (existsSync(pointer)) await stopCluster(JSON.parse(readFileSync(pointer, 'utf8')) as ClusterState);
  rmSync(path.dirname(clone), { recursive: true, force: true });
}, 120_000);

const section = (id: string) => {
  const s = got.get(id);
  if (!s) throw new Error(`${id} did not run; the transcript:\n${transcript.slice(-4000)}`);
  return s;
};
/** The section of the RUNBOOK's command that starts with `prefix` (the n-th such one). */
const run = (prefix: string, n = 0) => {
  const i = commands.map((c, j) => [c, j] as const).filter(([c]) => c.startsWith(prefix))[n]?.[1];
  if (i === undefined) throw new Error(`the RUNBOOK's first hour has no command starting with ${prefix}`);
  return section(`run:${i}`);
};
const lastLine = (s: Section) => s.out.trim().split('\n').at(-1);

describe('the RUNBOOK’s loopback first hour, as printed', () => {
  it('is the block the RUNBOOK prints: try, health, a second deploy, rollback without --force, down', () => {
    expect(commands[0]).toMatch(/^bash scripts\/tools\.sh cluster\b/);
    expect(commands).toContain(
      'npm run try                            # cluster, local services, both stacks, the first deploy; prints what to try next',
    );
    expect(commands.filter((c) => c.startsWith('npm run rollback'))).toEqual([
      'npm run rollback -- --stack local',
    ]);
    expect(commands.at(-1)).toBe('npm run try -- down');
    // Every command of the block ran, in order, once.
    expect(commands.map((_, i) => got.has(`run:${i}`))).toEqual(commands.map(() => true));
  });

  it('npm run try brings up the cluster, the services, both stacks and the first deploy, and says what next', () => {
    const s = run('npm run try ');
    expect(s.exit, s.out).toBe(0);
    expect(s.out).toContain('$ npm run cluster -- up');
    expect(s.out).toContain('$ npm run up:cluster -- --stack local');
    expect(s.out).toContain('$ npm run up -- --stack local');
    expect(s.out).toMatch(/^npm run try: the loopback first hour is up \(\d+ s\)$/m);
    expect(s.out).toContain('next, in this shell:\n  source .data/try/env\n');
  });

  it('the cluster runs the broker’s objects, and health passes with --ready-url', () => {
    expect(run('source').exit).toBe(0);
    const objects = run('kubectl -n ainp-local get deployments');
    expect(objects.exit, objects.out).toBe(0);
    for (const o of [
      'deployment.apps/ainp-broker',
      'job.batch/ainp-broker-migrate',
      'cronjob.batch/ainp-broker-finalizer',
    ])
      expect(objects.out).toContain(o);
    const health = run('npm run health');
    expect(health.exit, health.out).toBe(0);
    expect(health.out).toContain('ok   /ready: 200');
    expect(health.out).toContain('health: OK');
    const preview = run('npm run preview');
    expect(preview.exit, preview.out).toBe(0);
    // No change: the StackReferences are read, every resource is the same.
    expect(preview.out).toMatch(/^preview of stack local: (read \d+, )?same \d+$/m);
  });

  it('a second deploy moves the Deployment to the second digest', () => {
    expect(run('pulumi config set ainp:imageDigest').exit).toBe(0);
    const up = run('npm run up --');
    expect(up.exit, up.out).toBe(0);
    expect(run('kubectl -n ainp-local get deployment ainp-broker', 0).out.trim()).toBe(
      `${IMAGE}@${DIGEST_2}`,
    );
  });

  it('npm run rollback, without --force, brings back the first deploy’s commit and digest', () => {
    const r = run('npm run rollback');
    expect(r.exit, r.out).toBe(0);
    expect(r.out).toMatch(
      new RegExp(
        `rollback local to version 1 of \\S+Z \\(image ${DIGEST_1}, program and chart of commit ${head}\\)`,
      ),
    );
    expect(r.out).toContain(`set ainp:imageDigest = ${DIGEST_1}`);
    expect(r.out).toContain('keep secret ainp:databaseUrl');
    expect(run('kubectl -n ainp-local get deployment ainp-broker', 1).out.trim()).toBe(
      `${IMAGE}@${DIGEST_1}`,
    );
    const health = run('npm run health', 1);
    expect(health.exit, health.out).toBe(0);
    expect(health.out).toContain('health: OK');
  });

  it('npm run try -- down stops what it started', async () => {
    const s = run('npm run try -- down');
    expect(s.exit, s.out).toBe(0);
    expect(s.out).toContain('local services stopped');
    expect(s.out).toMatch(/cluster at https:\/\/127\.0\.0\.1:\d+ stopped/);
    expect(existsSync(path.join(clone, '.test-data/cluster.json'))).toBe(false);
    expect(existsSync(path.join(clone, '.data/try/pulumi'))).toBe(false);
    const pid = Number(JSON.parse(readFileSync(path.join(clone, '.data/try/try.json'), 'utf8')).pid ?? 0);
    expect(pid).toBe(0);
  });
});

describe('errors that say what to do, on the real engine and API server (issue 36, item 5)', () => {
  const work = () => path.join(clone, '.data/try/pulumi');

  it('a stack that does not exist: one line, with the backend and how to list or create one', () => {
    const s = section('check:no-such-stack');
    expect(s.exit).toBe(1);
    expect(s.out.trim()).toBe(
      `up stack nosuch: no stack named 'nosuch' in file://${work()}/state; list the stacks with pulumi stack ls --cwd ${work()}, or create it with pulumi stack init nosuch --cwd ${work()}`,
    );
  });

  it('an invalid config: Pulumi’s output once, no JavaScript stack trace, and one line naming the problem', () => {
    const s = section('check:invalid-config');
    expect(s.exit).toBe(1);
    expect(lastLine(s)).toBe(
      `preview stack local: invalid config: pouK: k=9 must not exceed pouM m=5; change it (pulumi config set KEY VALUE --stack local --cwd ${work()}), then check it with npm run preview -- --stack local`,
    );
    expect(s.out.match(/^Diagnostics:$/gm)).toHaveLength(1);
    expect(s.out).not.toMatch(/^\s+at /m);
    expect(s.out).not.toContain('code: ');
    expect(s.out.split('\n').length).toBeLessThan(60);
    expect(section('check:invalid-config-reset').exit).toBe(0);
  });

  it('a cluster stack that does not exist: the program’s own “deploy it first”', () => {
    const s = section('check:no-cluster-stack');
    expect(s.exit).toBe(1);
    expect(lastLine(s)).toBe(
      'preview stack local: clusterStack: the cluster stack organization/ainp-cluster/nosuch does not exist; deploy it first (npm run up:cluster -- --stack nosuch)',
    );
    expect(s.out.match(/^Diagnostics:$/gm)).toHaveLength(1);
    expect(section('check:no-cluster-stack-reset').exit).toBe(0);
  });

  it('health without --ready-url on kwok nodes: the port-forward’s own error and the hint', () => {
    const s = section('check:port-forward');
    expect(s.exit).toBe(1);
    expect(s.out).toMatch(
      /^FAIL \/ready: unreachable: port-forward exited 1: error: .+ \(where no port-forward can reach a pod \(the loopback cluster's kwok nodes have no kubelet\), pass --ready-url URL\)$/m,
    );
  });

  it('health when kubectl cannot query the cluster: exit 3 with kubectl’s error', () => {
    const s = section('check:kubectl-fails');
    expect(s.exit).toBe(3);
    expect(s.out.trim()).toBe(
      'health: kubectl could not query the cluster (context nosuch): error: context "nosuch" does not exist; check the context and your access (kubectl config get-contexts; kubectl get pods -n ainp-local)',
    );
  });
});
