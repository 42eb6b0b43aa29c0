import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPromotion } from '../infra/ops/promotion.js';
import { rollback, type RollbackStack } from '../infra/ops/rollback.js';
import { gateVerdict, loadNumbers, runVerdict, type K6Summary } from '../infra/ops/gate-verdict.js';
import {
  afterStep,
  PROMOTION_STEPS,
  promotionDigest,
  restorePlan,
  rollbackTarget,
  type HistoryEntry,
} from '../infra/ops/history.js';
import {
  cronJobCheck,
  evaluateHealth,
  migrationCheck,
  podsCheck,
  rolloutCheck,
  type CronJob,
  type Deployment,
  type HealthInputs,
  type Pod,
} from '../infra/ops/kube-health.js';

/** The decisions behind gate, promote, rollback and health, on recorded k6, Pulumi and kubectl JSON. */
const fixture = <T>(p: string): T => JSON.parse(readFileSync(path.join('test/fixtures', p), 'utf8')) as T;
const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

describe('gate verdict (k6 summaries recorded from the local stack and from the same stack behind an 80 ms proxy)', () => {
  const smoke = fixture<K6Summary>('k6/smoke-pass.json');
  const load = fixture<K6Summary>('k6/load-pass.json');
  const slow = fixture<K6Summary>('k6/load-slow.json');

  it('passes when smoke and load passed', () => {
    expect(
      gateVerdict([
        { script: 'smoke', exitCode: 0, summary: smoke },
        { script: 'load', exitCode: 0, summary: load },
      ]),
    ).toEqual({ pass: true, reasons: [] });
    expect(loadNumbers(load).rate).toBeGreaterThan(250);
  });

  it('fails a slow target on the p95 threshold, naming the numbers', () => {
    const v = runVerdict({ script: 'load', exitCode: 99, summary: slow });
    expect(v.pass).toBe(false);
    expect(v.reasons).toEqual([
      expect.stringMatching(/^load: threshold http_req_duration p\(95\)<50 failed \(p95 \d+\.\d ms/),
    ]);
  });

  it('fails a run that left no summary, or was aborted in setup, or had failed checks', () => {
    expect(runVerdict({ script: 'smoke', exitCode: 108, summary: undefined }).reasons).toEqual([
      'smoke: no summary (k6 exited 108)',
      'smoke: k6 exited 108 (the test was aborted (setup refused the target or a threshold aborted it))',
    ]);
    const failedChecks = structuredClone(smoke);
    failedChecks.metrics.checks!.values.fails = 2;
    expect(runVerdict({ script: 'smoke', exitCode: 0, summary: failedChecks }).reasons).toContain(
      `smoke: 2 of ${failedChecks.metrics.checks!.values.passes! + 2} checks failed`,
    );
    expect(gateVerdict([])).toEqual({ pass: false, reasons: ['nothing ran'] });
    // An abort says so even when a threshold failed with it; a plain threshold exit (99) does not repeat.
    const aborted = structuredClone(smoke);
    aborted.metrics.http_req_failed!.thresholds = { 'rate==0': { ok: false } };
    expect(runVerdict({ script: 'smoke', exitCode: 108, summary: aborted }).reasons.at(-1)).toMatch(
      /^smoke: k6 exited 108/,
    );
    expect(runVerdict({ script: 'smoke', exitCode: 99, summary: aborted }).reasons).toHaveLength(1);
  });
});

describe('rollback and promotion decisions (recorded prod history)', () => {
  const history = fixture<HistoryEntry[]>('pulumi/prod-history.json');

  it('rolls back to the update tagged last good, skipping failures, refreshes and previews', () => {
    const t = rollbackTarget(history, { lastGoodTag: '5' });
    expect(t.ok && t.entry.version).toBe(5);
  });

  it('without a tag, to the newest succeeded update before the current one', () => {
    const t = rollbackTarget(history);
    expect(t.ok && t.entry.version).toBe(6);
    // A tag pointing at the current (failed) update or at nothing is not trusted.
    expect(
      rollbackTarget(history, { lastGoodTag: '8' }).ok &&
        (rollbackTarget(history, { lastGoodTag: '8' }) as any).entry.version,
    ).toBe(6);
  });

  it('--to a version: only a succeeded update', () => {
    expect(rollbackTarget(history, { to: 2 })).toMatchObject({ ok: true, entry: { version: 2 } });
    expect(rollbackTarget(history, { to: 3 })).toEqual({
      ok: false,
      reason: 'version 3 is a failed update, not a succeeded update',
    });
    expect(rollbackTarget(history, { to: 4 })).toEqual({
      ok: false,
      reason: 'version 4 is a succeeded preview, not a succeeded update',
    });
    expect(rollbackTarget(history, { to: 99 })).toEqual({
      ok: false,
      reason: 'version 99 is not in the stack history',
    });
    expect(rollbackTarget([])).toEqual({ ok: false, reason: 'the stack has no update to roll back' });
  });

  it('restores that update’s plain config (the image digest with it), keeps secrets, removes newer keys', () => {
    const current = history[0]!.config!;
    const target = history.find((e) => e.version === 5)!;
    expect(restorePlan(target, current)).toEqual({
      version: 5,
      set: { 'ainp:imageDigest': A, 'ainp:brokerReplicas': '4' },
      remove: ['ainp:brokerMaxReplicas'],
      secretsKept: ['ainp:postgresBackupSecretAccessKey'],
      imageDigest: A,
    });
    // Nothing to change when the config is already that update's.
    expect(
      restorePlan(
        history.find((e) => e.version === 6)!,
        history.find((e) => e.version === 6)!.config!,
      ).set,
    ).toEqual({});
  });

  it('promotion stops with prod untouched before prod-up, rolls back after it, tags when done', () => {
    for (const s of PROMOTION_STEPS.slice(0, 3)) expect(afterStep(s, false)).toBe('stop-prod-untouched');
    for (const s of PROMOTION_STEPS.slice(3)) expect(afterStep(s, false)).toBe('rollback-prod');
    expect(afterStep('staging-gate', true)).toBe('continue');
    expect(afterStep('prod-smoke', true)).toBe('done');
    expect(promotionDigest({ imageDigest: { value: B } })).toBe(B);
    expect(() => promotionDigest({ imageDigest: { value: 'latest' } })).toThrow(
      'staging has no image digest to promote',
    );
  });
});

describe('promotion loop and rollback, on stand-ins for the Pulumi stacks', () => {
  const history = fixture<HistoryEntry[]>('pulumi/prod-history.json');
  const promote = async (failAt?: string) => {
    const ran: string[] = [];
    const calls: string[] = [];
    const outcome = await runPromotion(
      PROMOTION_STEPS.map((s) => [
        s,
        async () => {
          ran.push(s);
          if (s === failAt) throw new Error('boom');
          return true;
        },
      ]),
      {
        log: () => undefined,
        rollbackProd: async () => void calls.push('rollback'),
        markProdGood: async () => void calls.push('mark-good'),
      },
    );
    return { outcome, ran, calls };
  };

  it('runs every step and marks prod good', async () => {
    expect(await promote()).toEqual({
      outcome: { result: 'done' },
      ran: PROMOTION_STEPS,
      calls: ['mark-good'],
    });
  });

  it('a failing staging gate stops before prod: no prod step, no rollback', async () => {
    const r = await promote('staging-gate');
    expect(r.outcome).toEqual({ result: 'stopped-prod-untouched', failedStep: 'staging-gate' });
    expect(r.ran).toEqual(['staging-up', 'staging-health', 'staging-gate']);
    expect(r.calls).toEqual([]);
  });

  it('a failing prod smoke rolls prod back and does not mark it good', async () => {
    const r = await promote('prod-smoke');
    expect(r.outcome).toEqual({ result: 'rolled-back', failedStep: 'prod-smoke' });
    expect(r.calls).toEqual(['rollback']);
  });

  it('rollback applies the plan to the stack, then runs up', async () => {
    const calls: string[] = [];
    const stack: RollbackStack = {
      name: 'prod',
      history: async () => history,
      getTag: async () => '5',
      getAllConfig: async () => history[0]!.config!,
      setConfig: async (k, v) => void calls.push(`set ${k}=${v.value}`),
      removeConfig: async (k) => void calls.push(`remove ${k}`),
      up: async (o) => void calls.push(`up: ${o.message}`),
    };
    const plan = await rollback(stack);
    expect(plan.version).toBe(5);
    expect(calls).toEqual([
      'set ainp:brokerReplicas=4',
      `set ainp:imageDigest=${A}`,
      'remove ainp:brokerMaxReplicas',
      'up: rollback to version 5',
    ]);
    calls.length = 0;
    await rollback({ ...stack, getTag: () => Promise.reject(new Error('no tag')) }, { dryRun: true });
    expect(calls).toEqual([]);
    await expect(rollback(stack, { to: 3 })).rejects.toThrow(
      'cannot roll back prod: version 3 is a failed update',
    );
  });
});

describe('kubectl health decisions (recorded kubectl JSON)', () => {
  const deployment = fixture<Deployment>('kubectl/deployment.json');
  const pods = fixture<{ items: Pod[] }>('kubectl/pods.json').items;
  const job = fixture<HealthInputs['migrationJob']>('kubectl/job.json');
  const cronJobs = fixture<{ items: CronJob[] }>('kubectl/cronjobs.json').items;
  const now = new Date('2026-11-23T10:06:00Z');
  const healthy: HealthInputs = {
    deployment,
    pods,
    migrationJob: job,
    cronJobs,
    ready: { status: 200 },
    now,
  };

  it('a healthy release: every check ok, exit 0', () => {
    const r = evaluateHealth(healthy);
    expect(r.checks.map((c) => [c.name, c.level])).toEqual([
      ['rollout', 'ok'],
      ['pods', 'ok'],
      ['migration job', 'ok'],
      ['cronjob ainp-broker-finalizer', 'ok'],
      ['cronjob ainp-broker-aggregator', 'ok'],
      ['/ready', 'ok'],
    ]);
    expect(r.exitCode).toBe(0);
  });

  it('a rollout in progress or stuck', () => {
    const rolling = structuredClone(deployment);
    rolling.status.updatedReplicas = 1;
    rolling.status.replicas = 4;
    expect(rolloutCheck(rolling)).toMatchObject({
      level: 'fail',
      detail: 'rollout incomplete: 1/3 updated, 3/3 available, 3 old replicas',
    });
    const stuck = structuredClone(deployment);
    stuck.status.conditions = [
      {
        type: 'Progressing',
        status: 'False',
        reason: 'ProgressDeadlineExceeded',
        message: 'ReplicaSet has timed out progressing.',
      },
    ];
    expect(rolloutCheck(stuck).detail).toBe('rollout stuck: ReplicaSet has timed out progressing.');
    expect(rolloutCheck(undefined).level).toBe('fail');
  });

  it('pods not ready, or crash-looping', () => {
    const p = structuredClone(pods);
    p[1]!.status.conditions = [{ type: 'Ready', status: 'False' }];
    expect(podsCheck(p, 3)).toEqual({ name: 'pods', level: 'fail', detail: '2/3 pods ready' });
    p[2]!.status.containerStatuses![0]!.state = { waiting: { reason: 'CrashLoopBackOff' } };
    expect(podsCheck(p, 3).detail).toBe('crash-looping: ainp-broker-7d9f8b6c5-klmno/broker');
  });

  it('a failed migration fails; a missing one (TTL) only warns', () => {
    expect(
      migrationCheck({
        metadata: { name: 'm' },
        status: {
          failed: 3,
          conditions: [{ type: 'Failed', status: 'True', message: 'BackoffLimitExceeded' }],
        },
      }),
    ).toMatchObject({
      level: 'fail',
      detail: 'failed: BackoffLimitExceeded',
    });
    expect(migrationCheck(undefined).level).toBe('warn');
  });

  it('a CronJob whose last success is older than twice its schedule', () => {
    const finalizer = cronJobs[0]!; // every 5 minutes, last success 10:05:07
    expect(cronJobCheck(finalizer, new Date('2026-11-23T10:15:07Z'))).toMatchObject({
      level: 'ok',
      detail: 'last success 600 s ago (limit 600 s)',
    });
    expect(cronJobCheck(finalizer, new Date('2026-11-23T10:15:08Z'))).toMatchObject({
      level: 'fail',
      detail: 'last success 601 s ago, over twice its schedule (600 s)',
    });
    const fresh = {
      ...finalizer,
      metadata: { name: 'new', creationTimestamp: '2026-11-23T10:04:00Z' },
      status: {},
    };
    expect(cronJobCheck(fresh, now).level).toBe('ok');
    expect(cronJobCheck(fresh, new Date('2026-11-23T10:30:00Z')).level).toBe('fail');
  });

  it('/ready failing or unreachable fails the whole check', () => {
    expect(evaluateHealth({ ...healthy, ready: { status: 503, body: '{"ready":false}' } }).exitCode).toBe(1);
    expect(evaluateHealth({ ...healthy, ready: { error: 'port-forward exited 1' } }).checks.at(-1)).toEqual({
      name: '/ready',
      level: 'fail',
      detail: 'unreachable: port-forward exited 1',
    });
  });
});

describe('npm run health, end to end against a stand-in kubectl', () => {
  const run = promisify(execFile);
  let server: http.Server;
  let readyStatus = 200;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      res
        .writeHead(req.url === '/ready' ? readyStatus : 404)
        .end(readyStatus === 200 ? '{"ready":true}' : '{"ready":false}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const health = async (env: Record<string, string> = {}) => {
    const log = path.join(mkdtempSync(path.join(os.tmpdir(), 'kubectl-')), 'calls.log');
    const result = await run(
      process.execPath,
      ['--import', 'tsx', 'infra/ops/health.ts', '--namespace', 'ainp-prod'],
      {
        env: {
          ...process.env,
          KUBECTL: path.resolve('test/helpers/fake-kubectl.mjs'),
          FAKE_KUBECTL_DIR: path.resolve('test/fixtures/kubectl'),
          FAKE_KUBECTL_LOG: log,
          FAKE_READY_PORT: String((server.address() as AddressInfo).port),
          ...env,
        },
      },
    ).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    return { ...result, calls: readFileSync(log, 'utf8').trim().split('\n') };
  };

  it('reports OK and exits 0 for a healthy release, asking kubectl for the right objects', async () => {
    readyStatus = 200;
    const r = await health();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ok   cronjob ainp-broker-finalizer: last success 30 s ago (limit 600 s)');
    expect(r.stdout).toContain('health: OK');
    expect(r.calls).toEqual(
      expect.arrayContaining([
        '-n ainp-prod get deployment ainp-broker -o json',
        '-n ainp-prod get pods -l app.kubernetes.io/instance=ainp-broker,app.kubernetes.io/component=api -o json',
        '-n ainp-prod get job ainp-broker-migrate -o json',
        '-n ainp-prod get cronjobs -l app.kubernetes.io/instance=ainp-broker -o json',
        '-n ainp-prod port-forward svc/ainp-broker 0:80',
      ]),
    );
  });

  it('exits 1 when /ready fails, and a missing Deployment is reported, not thrown', async () => {
    readyStatus = 503;
    const r = await health({ FAKE_MISSING: 'deployment' });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL rollout: the Deployment does not exist');
    expect(r.stdout).toContain('FAIL /ready: 503');
    expect(r.stdout).toContain('health: FAILING');
  });
});
