import { execFile } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from './helpers/tmp.js';

/**
 * What the ops commands say when something fails (issue 36, item 5) and the small things an
 * operator's first hour needs (item 6): each through the real command as a child process, with a
 * stand-in only where the real tool needs what does not exist here (kubectl without a cluster: the
 * stand-in answers as kubectl does; k6: a stand-in writes a recorded summary). The messages that
 * need the real Pulumi engine or API server are checked in test/cluster/first-hour.cluster.ts.
 */
const run = promisify(execFile);
const ROOT = path.resolve('.');
const FAKE_KUBECTL = path.resolve('test/helpers/fake-kubectl.mjs');

type Result = { code: number; stdout: string; stderr: string };
const settled = (p: Promise<{ stdout: string; stderr: string }>): Promise<Result> =>
  p.then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

let server: http.Server;
let port = 0;
beforeAll(async () => {
  server = http.createServer((_req, res) => res.writeHead(200).end('{"ready":true}'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const kubectlEnv = (extra: Record<string, string> = {}) => ({
  ...process.env,
  KUBECTL: FAKE_KUBECTL,
  FAKE_KUBECTL_DIR: path.resolve('test/fixtures/kubectl/healthy'),
  FAKE_KUBECTL_LOG: path.join(scratchDir('ainp-kubectl'), 'calls.log'),
  FAKE_READY_PORT: String(port),
  ...extra,
});

const health = (args: string[], env: Record<string, string>) =>
  settled(
    run(process.execPath, ['--import', 'tsx', 'infra/ops/health.ts', ...args], { env: kubectlEnv(env) }),
  );

describe('npm run health, when kubectl fails', () => {
  it('exits 3 with kubectl’s own error and what to check, on one line', async () => {
    const r = await health(['--namespace', 'ainp-prod', '--context', 'nosuch'], {
      FAKE_KUBECTL_ERROR: 'error: context "nosuch" does not exist',
    });
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe(
      'health: kubectl could not query the cluster (context nosuch): error: context "nosuch" does not exist; ' +
        'check the context and your access (kubectl config get-contexts; kubectl get pods -n ainp-prod)',
    );
    expect(r.stdout).toBe('');
  });

  it('a failed port-forward shows its stderr and the --ready-url hint', async () => {
    const r = await health(['--namespace', 'ainp-prod'], {
      FAKE_PORT_FORWARD_ERROR:
        'error: unable to forward port because pod is not running. Current status=Pending',
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'FAIL /ready: unreachable: port-forward exited 1: error: unable to forward port because pod is not running. ' +
        "Current status=Pending (where no port-forward can reach a pod (the loopback cluster's kwok nodes have no " +
        'kubelet), pass --ready-url URL)',
    );
    // With --ready-url the same cluster is healthy: no port-forward is started.
    const direct = await health(
      ['--namespace', 'ainp-prod', '--ready-url', `http://127.0.0.1:${port}/ready`],
      {
        FAKE_PORT_FORWARD_ERROR: 'error: unable to forward port because pod is not running',
      },
    );
    expect(direct.stdout).toContain('ok   /ready: 200');
    expect(direct.code).toBe(0);
  });
});

describe('promote: a failing step says which check failed', () => {
  it('staging-health names the failing check in the line that stops the promotion', async () => {
    // promote.ts reads KUBECTL when it is loaded: a module of its own, in a child process.
    const script = `
      import { healthStep } from './infra/ops/promote.ts';
      import { runPromotion } from './infra/ops/promotion.ts';
      const log = [];
      const target = { namespace: 'ainp-staging', release: 'ainp-broker', migrationJob: 'ainp-broker-migrate' };
      const outcome = await runPromotion(
        [['staging-up', async () => true], ['staging-health', () => healthStep(target, (l) => log.push(l))]],
        { log: (l) => log.push(l), rollbackProd: async () => {}, markProdGood: async () => {} },
      );
      console.log(JSON.stringify({ outcome, log }));`;
    const r = await settled(
      run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: ROOT,
        env: kubectlEnv({ FAKE_MISSING: 'deployment' }),
      }),
    );
    const { outcome, log } = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      outcome: unknown;
      log: string[];
    };
    expect(outcome).toEqual({ result: 'stopped-prod-untouched', failedStep: 'staging-health' });
    expect(log.join('\n')).toContain('FAIL rollout: the Deployment does not exist');
    expect(log.at(-1)).toBe(
      'promote: staging-health failed (rollout: the Deployment does not exist); prod was not changed',
    );
  });

  it('takes --ready-url and --prod-ready-url, and refuses an unknown flag with its usage', async () => {
    const r = await settled(
      run(process.execPath, ['--import', 'tsx', 'infra/ops/promote.ts', '--ready-urls', 'x'], { cwd: ROOT }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'usage: npm run promote [-- --load-duration 50s] [--ready-url URL] [--prod-ready-url URL]',
    );
  });
});

describe('npm run gate says where its summaries are', () => {
  it('prints the folder and the summaries in it', async () => {
    const dir = scratchDir('ainp-gate-bin');
    // A k6 stand-in: writes the recorded summary of the script it is given where the gate asks.
    const k6 = path.join(dir, 'k6');
    writeFileSync(
      k6,
      `#!/usr/bin/env node
const fs = require('fs'), path = require('path');
const args = process.argv.slice(2);
const script = path.basename(args.find((a) => a.endsWith('.ts')), '.ts');
const dir = args.find((a) => a.startsWith('SUMMARY_DIR=')).slice('SUMMARY_DIR='.length);
fs.copyFileSync(path.join(${JSON.stringify(path.resolve('test/fixtures/k6'))}, script + '-pass.json'), path.join(dir, script + '-summary.json'));
`,
    );
    chmodSync(k6, 0o755);
    const summaries = path.join(scratchDir('ainp-gate'), 'out');
    const r = await settled(
      run(
        process.execPath,
        [
          '--import',
          'tsx',
          'infra/ops/gate.ts',
          '--target',
          `http://127.0.0.1:${port}`,
          '--admin-token',
          'test-token',
          '--summary-dir',
          summaries,
        ],
        { cwd: ROOT, env: { ...process.env, K6_BIN: k6 } },
      ),
    );
    expect(r.stdout).toContain(`gate summaries: ${summaries} (smoke-summary.json, load-summary.json)`);
    expect(r.stdout).toContain('gate: PASS');
    expect(existsSync(path.join(summaries, 'load-summary.json'))).toBe(true);
    expect(r.code).toBe(0);
  });
});

describe('scripts/tools.sh', () => {
  it('says when it copies a tool from the cache, and is silent when the tool is already there', async () => {
    const cache = scratchDir('ainp-tools-cache');
    const bin = scratchDir('ainp-tools-bin');
    const version = /^KUBE_SCORE_VERSION=(\S+)$/m.exec(readFileSync('scripts/tools.sh', 'utf8'))![1]!;
    writeFileSync(path.join(cache, `kube-score-${version}`), '#!/bin/sh\necho stand-in\n');
    chmodSync(path.join(cache, `kube-score-${version}`), 0o755);
    const tools = () =>
      settled(
        run('bash', ['scripts/tools.sh', 'kube-score'], {
          cwd: ROOT,
          env: { ...process.env, AINP_TOOLS_CACHE: cache, AINP_TOOLS_BIN: bin },
        }),
      );
    const first = await tools();
    expect(first.code).toBe(0);
    expect(first.stdout.trim()).toBe(`copied kube-score ${version} from ${cache}`);
    expect(readFileSync(path.join(bin, 'kube-score'), 'utf8')).toContain('stand-in');
    const again = await tools();
    expect(again.stdout.trim()).toBe('');
  });
});

describe('npm run try, before it starts anything', () => {
  const tryUp = (env: Record<string, string>) =>
    settled(
      run(process.execPath, ['--import', 'tsx', 'infra/ops/try.ts'], {
        cwd: ROOT,
        env: { ...process.env, ...env },
      }),
    );

  it('without the cluster tools: which are missing, and the command that provides them', async () => {
    const bin = scratchDir('ainp-try-bin');
    const r = await tryUp({ AINP_TOOLS_BIN: bin, AINP_CLUSTER_STATE: path.join(bin, 'none.json') });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `npm run try: pulumi, pulumi-resource-kubernetes, kubectl, etcd, kube-apiserver, kwok not in ${path.relative(ROOT, bin)}: run bash scripts/tools.sh cluster first (it copies them from the tools cache, or builds them)`,
    );
  });

  it('a recorded cluster that no longer answers: says so, and how to start over', async () => {
    const bin = scratchDir('ainp-try-bin');
    for (const tool of ['pulumi', 'pulumi-resource-kubernetes', 'etcd', 'kube-apiserver', 'kwok'])
      writeFileSync(path.join(bin, tool), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    // kubectl as it answers for an API server whose processes are gone.
    writeFileSync(
      path.join(bin, 'kubectl'),
      `#!/bin/sh\nexec env FAKE_KUBECTL_ERROR='The connection to the server 127.0.0.1:1 was refused' FAKE_KUBECTL_LOG=/dev/null ${process.execPath} ${FAKE_KUBECTL} "$@"\n`,
      { mode: 0o755 },
    );
    const dir = scratchDir('ainp-try-cluster');
    const pointer = path.join(dir, 'cluster.json');
    writeFileSync(
      pointer,
      JSON.stringify({ dir, kubeconfig: path.join(dir, 'kubeconfig'), server: 'https://127.0.0.1:1' }),
    );
    const r = await tryUp({ AINP_TOOLS_BIN: bin, AINP_CLUSTER_STATE: pointer });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `npm run try: the cluster recorded in ${path.relative(ROOT, pointer)} (https://127.0.0.1:1) does not answer: run npm run try -- down, then npm run try`,
    );
  });
});

/**
 * The line a failed Pulumi command ends with, from the CLI's output recorded in the cluster lane
 * (test/fixtures/pulumi/errors: the first hour's provoked failures, as `npm run preview` streamed
 * them; no-such-stack is `pulumi stack select`'s stderr), wrapped as the Automation API wraps it
 * (a CommandError's commandResult). The lane checks the same lines on the live engine.
 */
describe('failureLine over recorded Pulumi output', () => {
  const recorded = (name: string) =>
    readFileSync(path.join('test/fixtures/pulumi/errors', `${name}.txt`), 'utf8');
  const commandError = (stderr: string, name = 'CommandError') =>
    Object.assign(new Error(`code: 1\n stdout: \n stderr: ${stderr}\n err?: Error: ${stderr}`), {
      name,
      commandResult: { stdout: '', stderr },
    });
  const saved = { ...process.env };
  afterAll(() => {
    for (const k of ['PULUMI_BACKEND_URL', 'AINP_PULUMI_WORKDIR'])
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
  });

  it('names the problem and the next step, never the log', async () => {
    const { failureLine } = await import('../infra/ops/errors.js');
    delete process.env.AINP_PULUMI_WORKDIR;
    process.env.PULUMI_BACKEND_URL = 'file:///var/state';
    const preview = `Command failed with exit code 1: pulumi preview --stack local --non-interactive\n`;
    expect(
      failureLine(commandError(preview + recorded('invalid-config')), { command: 'preview', stack: 'local' }),
    ).toBe(
      'preview stack local: invalid config: pouK: k=9 must not exceed pouM m=5; change it (pulumi config set KEY VALUE --stack local), then check it with npm run preview -- --stack local',
    );
    expect(
      failureLine(commandError(preview + recorded('no-cluster-stack')), { command: 'up', stack: 'local' }),
    ).toBe(
      'up stack local: clusterStack: the cluster stack organization/ainp-cluster/nosuch does not exist; deploy it first (npm run up:cluster -- --stack nosuch)',
    );
    expect(
      failureLine(commandError(recorded('no-such-stack'), 'StackNotFoundError'), {
        command: 'health',
        stack: 'nosuch',
      }),
    ).toBe(
      "health stack nosuch: no stack named 'nosuch' in file:///var/state; list the stacks with pulumi stack ls, or create it with pulumi stack init nosuch",
    );
    // A cluster stack's config lives in infra/cluster-stack; the work folder's when one is set.
    expect(
      failureLine(commandError(recorded('no-such-stack')), {
        command: 'up:cluster',
        stack: 'nosuch',
        cluster: true,
      }),
    ).toMatch(
      /pulumi stack ls --cwd infra\/cluster-stack, or create it with pulumi stack init nosuch --cwd infra\/cluster-stack$/,
    );
    process.env.AINP_PULUMI_WORKDIR = '/work/try';
    expect(
      failureLine(commandError(preview + recorded('invalid-config')), { command: 'preview', stack: 'local' }),
    ).toContain('(pulumi config set KEY VALUE --stack local --cwd /work/try)');
    // A locked stack, a missing CLI, and the commands' own one-line errors.
    expect(
      failureLine(
        commandError('error: the stack is currently locked by 1 lock(s)', 'ConcurrentUpdateError'),
        {
          command: 'up',
          stack: 'prod',
        },
      ),
    ).toMatch(/^up stack prod: the stack is locked by another update/);
    expect(
      failureLine(new Error('Command failed with ENOENT: pulumi version'), { command: 'up', stack: 'x' }),
    ).toBe(
      'up stack x: the pulumi CLI is not on PATH; build or copy it with bash scripts/tools.sh cluster and put .tools/bin first on PATH',
    );
    expect(
      failureLine(new Error('cannot roll back prod: no succeeded update before version 1'), {
        command: 'rollback',
        stack: 'prod',
      }),
    ).toBe('cannot roll back prod: no succeeded update before version 1');
  });
});
