import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPromotion } from '../infra/ops/promotion.js';
import { rollback, type RollbackStack } from '../infra/ops/rollback.js';
import { commitStackFile, rollbackSource, sourceCommit } from '../infra/ops/source.js';
import { gateVerdict, loadNumbers, runVerdict, type K6Summary } from '../infra/ops/gate-verdict.js';
import {
  afterStep,
  HISTORY_PAGE,
  newestFirst,
  newestUpdateId,
  PROMOTION_STEPS,
  promotionDigest,
  recordedSource,
  restorePlan,
  rollbackTarget,
  updateId,
  wholeHistory,
  withSource,
  type HistoryEntry,
} from '../infra/ops/history.js';
import {
  cronJobCheck,
  evaluateHealth,
  migrationCheck,
  podsCheck,
  rolloutCheck,
  wantedReplicas,
  type CronJob,
  type Deployment,
  type HealthInputs,
  type HorizontalPodAutoscaler,
  type Job,
  type Pod,
} from '../infra/ops/kube-health.js';
import { scratchDir } from './helpers/tmp.js';
import { pulumiCliProblem } from '../infra/ops/pulumi-stack.js';

/**
 * The decisions behind gate, promote, rollback and health: on k6 summaries recorded from real runs,
 * and on Pulumi history and kubectl JSON recorded in the cluster lane (scripts/record-fixtures.sh).
 */
const fixture = <T>(p: string): T => JSON.parse(readFileSync(path.join('test/fixtures', p), 'utf8')) as T;
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

  it('fails at 0.2 % errors (SLO: under 0.1 %), even when the thresholds of the run were looser', () => {
    const errors = structuredClone(load);
    errors.metrics.http_req_failed!.values.rate = 0.002;
    errors.metrics.http_req_failed!.thresholds = { 'rate<0.01': { ok: true } };
    expect(
      gateVerdict([
        { script: 'smoke', exitCode: 0, summary: smoke },
        { script: 'load', exitCode: 0, summary: errors },
      ]),
    ).toEqual({ pass: false, reasons: ["load: 0.20% of requests failed, not under the SLO's 0.1%"] });
    errors.metrics.http_req_failed!.values.rate = 0.0009;
    expect(gateVerdict([{ script: 'load', exitCode: 0, summary: errors }]).pass).toBe(true);
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

/**
 * `pulumi stack history --json` recorded in the cluster lane (scripts/record-fixtures.sh) on a
 * file:// backend, newest first: a failed update (k above m), the rollback to update 1, the update
 * to digest 2 (which also set logLevel), the first update with digest 1.
 */
describe('rollback and promotion decisions (history recorded from a file:// backend)', () => {
  const history = fixture<HistoryEntry[]>('pulumi/local-history.json');
  const digest = (e: HistoryEntry) => e.config?.['ainp:imageDigest']?.value;
  const [failed, rolledBack, second, first] = newestFirst(history);

  it('the self-managed backend numbers no update; each gets its position, oldest = 1', () => {
    expect(history.map((e) => e.version)).toEqual([0, 0, 0, 0]);
    expect(newestFirst(history).map((e) => [e.version, e.kind, e.result, e.message])).toEqual([
      [4, 'update', 'failed', 'lane: k above m'],
      [3, 'update', 'succeeded', 'rollback to version 1'],
      [2, 'update', 'succeeded', 'lane: digest 2'],
      [1, 'update', 'succeeded', 'lane: digest 1'],
    ]);
    // An update is named by its start time, which every backend reports.
    expect(newestUpdateId(history)).toBe('2026-11-26T00:02:32Z');
    expect(digest(rolledBack!)).toBe(digest(first!));
    expect(digest(second!)).not.toBe(digest(first!));
  });

  it('without a tag, to the newest succeeded update before the current one', () => {
    expect(rollbackTarget(history)).toMatchObject({ ok: true, entry: { version: 3 } });
    // What the lane's rollback decided, before the failed update existed: back to update 1.
    expect(rollbackTarget(history.slice(2))).toMatchObject({ ok: true, entry: { version: 1 } });
  });

  it('to the update tagged last good when it is an older succeeded update; a tag on the current one is not trusted', () => {
    expect(rollbackTarget(history, { lastGoodTag: updateId(second!) })).toMatchObject({
      ok: true,
      entry: { version: 2, message: 'lane: digest 2' },
    });
    expect(rollbackTarget(history, { lastGoodTag: updateId(failed!) })).toMatchObject({
      ok: true,
      entry: { version: 3 },
    });
    // A tag written before updates were named by start time still names a version.
    expect(rollbackTarget(history, { lastGoodTag: '2' })).toMatchObject({ ok: true, entry: { version: 2 } });
  });

  it('--to a start time names the same update whatever the window or numbering', () => {
    expect(rollbackTarget(history, { to: updateId(first!) })).toMatchObject({
      ok: true,
      entry: { message: 'lane: digest 1' },
    });
    expect(rollbackTarget(history, { to: '2020-01-01T00:00:00Z' })).toEqual({
      ok: false,
      reason: 'the update started 2020-01-01T00:00:00Z is not in the stack history',
    });
    const twins = [first!, { ...first!, message: 'twin' }];
    expect(rollbackTarget(twins, { to: updateId(first!) })).toEqual({
      ok: false,
      reason: `2 updates started ${updateId(first!)}: name one by version`,
    });
  });

  it('reads the whole history page by page, not the CLI’s default window of 10', async () => {
    const all = Array.from({ length: 2 * HISTORY_PAGE + 5 }, (_, i) => ({ ...first!, message: `u${i}` }));
    const asked: string[] = [];
    const got = await wholeHistory(async (size, page, secrets) => {
      asked.push(`${size}/${page}/${secrets}`);
      return all.slice((page - 1) * size, page * size);
    });
    expect(got.map((e) => e.message)).toEqual(all.map((e) => e.message));
    expect(asked).toEqual([`${HISTORY_PAGE}/1/false`, `${HISTORY_PAGE}/2/false`, `${HISTORY_PAGE}/3/false`]);
  });

  it('--to a version: only a succeeded update', () => {
    expect(rollbackTarget(history, { to: 2 })).toMatchObject({ ok: true, entry: { version: 2 } });
    expect(rollbackTarget(history, { to: 4 })).toEqual({
      ok: false,
      reason: 'version 4 is a failed update, not a succeeded update',
    });
    expect(rollbackTarget(history, { to: 99 })).toEqual({
      ok: false,
      reason: 'version 99 is not in the stack history',
    });
    expect(rollbackTarget([])).toEqual({ ok: false, reason: 'the stack has no update to roll back' });
  });

  it('restores that update’s plain config (the image digest with it) and keeps secrets', () => {
    // The history holds Pulumi.yaml's defaults too, so a key set later goes back to its default.
    const plan = restorePlan(first!, second!.config!);
    expect(plan).toEqual({
      version: 1,
      id: '2026-11-26T00:01:32Z',
      set: { 'ainp:imageDigest': digest(first!), 'ainp:logLevel': 'info' },
      remove: [],
      secretsKept: ['ainp:adminToken', 'ainp:databaseUrl', 'ainp:natsUrl', 'ainp:redisUrl'],
      imageDigest: digest(first!),
    });
    expect(restorePlan(second!, failed!.config!)).toMatchObject({
      set: { 'ainp:imageDigest': digest(second!), 'ainp:logLevel': 'debug', 'ainp:pouK': '3' },
      remove: [],
    });
    // Nothing to change when the config is already that update's.
    expect(restorePlan(rolledBack!, rolledBack!.config!).set).toEqual({});
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
  const history = fixture<HistoryEntry[]>('pulumi/local-history.json');
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

  /** A prod whose `up` is refused as the Automation API refuses one on a locked stack. */
  const locked = () =>
    Object.assign(new Error('the stack is currently locked by 1 lock(s)'), { name: 'ConcurrentUpdateError' });

  it('a locked prod at prod-up stops the promotion: no rollback (it would be refused the same way)', async () => {
    const log: string[] = [];
    const calls: string[] = [];
    const outcome = await runPromotion(
      PROMOTION_STEPS.map((s) => [
        s,
        async () => {
          if (s === 'prod-up') throw locked();
          return true;
        },
      ]),
      {
        log: (l) => void log.push(l),
        rollbackProd: async () => void calls.push('rollback'),
        markProdGood: async () => void calls.push('mark-good'),
      },
    );
    expect(outcome).toEqual({ result: 'stopped-concurrent-update', failedStep: 'prod-up' });
    expect(calls).toEqual([]);
    expect(log).toContain(
      'prod-up: the stack is locked by another update (running, or interrupted and left pending); this promotion changed nothing there and does not roll back: see docs/RUNBOOK.md, "Interrupted and concurrent updates"',
    );
  });

  it('a rollback that fails is reported as such, not left as an unhandled rejection', async () => {
    const log: string[] = [];
    const outcome = await runPromotion(
      PROMOTION_STEPS.map((s) => [s, async () => s !== 'prod-smoke']),
      {
        log: (l) => void log.push(l),
        rollbackProd: () => Promise.reject(locked()),
        markProdGood: async () => undefined,
      },
    );
    expect(outcome).toEqual({ result: 'rollback-failed', failedStep: 'prod-smoke' });
    expect(log.at(-1)).toMatch(/^promote: rolling prod back failed: the stack is locked by another update/);
  });

  it('rollback reaches a last-good update older than the newest 10 (the CLI’s default page)', async () => {
    const calls: string[] = [];
    const base = history.at(-1)!;
    // Twelve succeeded updates a minute apart, newest first, as `pulumi stack history` lists them.
    const twelve: HistoryEntry[] = Array.from({ length: 12 }, (_, i) => ({
      ...base,
      startTime: new Date(Date.UTC(2026, 10, 26, 1, 11 - i)).toISOString(),
      message: `up ${12 - i} [source ${'a'.repeat(40)}]`,
      config: { ...base.config, 'ainp:imageDigest': { value: `sha256:${String(12 - i).padStart(64, '0')}` } },
    }));
    const stack: RollbackStack = {
      name: 'prod',
      // As the CLI answers: without --page-size, the newest 10.
      history: async (size = 10, page = 1) => twelve.slice((page - 1) * size, page * size),
      getTag: async () => updateId(twelve[11]!),
      getAllConfig: async () => twelve[0]!.config!,
      setConfig: async (k, v) => void calls.push(`set ${k}=${v.value}`),
      removeConfig: async (k) => void calls.push(`remove ${k}`),
      up: async (o) => void calls.push(`up: ${o.message}`),
    };
    const plan = await rollback(stack, { dryRun: true });
    expect(plan).toMatchObject({
      version: 1,
      id: '2026-11-26T01:00:00Z',
      imageDigest: `sha256:${'1'.padStart(64, '0')}`,
    });
  });

  it('rollback applies the plan to the stack, then runs up', async () => {
    const calls: string[] = [];
    // The history the lane's rollback read: digest 2 over digest 1.
    const before = history.slice(2);
    const digest1 = before[1]!.config!['ainp:imageDigest']!.value;
    const stack: RollbackStack = {
      name: 'local',
      history: async () => before,
      getTag: () => Promise.reject(new Error('no tag')),
      getAllConfig: async () => before[0]!.config!,
      setConfig: async (k, v) => void calls.push(`set ${k}=${v.value}`),
      removeConfig: async (k) => void calls.push(`remove ${k}`),
      up: async (o) => void calls.push(`up: ${o.message}`),
    };
    // These updates were made before commits were recorded: refused, unless --force.
    await expect(rollback(stack)).rejects.toThrow(
      'cannot roll back local to version 1: cannot restore what ran at that update: it has no recorded source commit',
    );
    expect(calls).toEqual([]);
    const plan = await rollback(stack, { force: true });
    expect(plan.version).toBe(1);
    expect(calls).toEqual([
      `set ainp:imageDigest=${digest1}`,
      'set ainp:logLevel=info',
      expect.stringMatching(
        /^up: rollback to version 1 of 2026-11-26T00:01:32Z \[source [0-9a-f]{40}( dirty: .*)?\]$/,
      ),
    ]);
    calls.length = 0;
    await rollback(stack, { dryRun: true, force: true });
    expect(calls).toEqual([]);
    await expect(rollback({ ...stack, history: async () => history }, { to: 4 })).rejects.toThrow(
      'cannot roll back local: version 4 is a failed update',
    );
  });

  it('a forced rollback records the commit whose program ran, not the stale ainp:sourceCommit of the stack file', async () => {
    const root = path.resolve('.');
    const head = (await sourceCommit(root))!;
    const stale = 'f'.repeat(40);
    const before = history.slice(2);
    const calls: string[] = [];
    let message = '';
    const stack: RollbackStack = {
      name: 'local',
      history: async () => before,
      getTag: () => Promise.reject(new Error('no tag')),
      getAllConfig: async () => ({ ...before[0]!.config!, 'ainp:sourceCommit': { value: stale } }),
      setConfig: async (k, v) => void calls.push(`set ${k}=${v.value}`),
      removeConfig: async (k) => void calls.push(`remove ${k}`),
      up: async (o) => void ((message = o.message!), calls.push('up')),
    };
    await rollback(stack, { force: true, root });
    expect(calls).toEqual([
      expect.stringMatching(/^set ainp:imageDigest=sha256:/),
      'set ainp:logLevel=info',
      'remove ainp:sourceCommit',
      'up',
    ]);
    // What this update's history entry says ran: today's tree, never the stale commit.
    const entry: HistoryEntry = { ...before[0]!, message, config: before[0]!.config };
    expect(recordedSource(entry)).toEqual(head);
    expect(message).not.toContain(stale);
  });

  it('rollback runs the program of the recorded commit, from a git worktree it removes afterwards', async () => {
    const root = path.resolve('.');
    const commit = (await sourceCommit(root))!.commit;
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    const withCommit: HistoryEntry[] = history.slice(2).map((e) => ({
      ...e,
      message: withSource(e.message!, { commit, dirty: [] }),
    }));
    const calls: string[] = [];
    let seenDir = '';
    const stack: RollbackStack = {
      name: 'local',
      history: async () => withCommit,
      getTag: () => Promise.reject(new Error('no tag')),
      getAllConfig: async () => ({
        ...withCommit[0]!.config!,
        'ainp:sourceCommit': { value: 'f'.repeat(40) },
      }),
      setConfig: async () => void calls.push('wrong stack'),
      removeConfig: async () => void calls.push('wrong stack'),
      up: async () => void calls.push('wrong stack'),
    };
    await rollback(stack, {
      root,
      withProgramAt: async (dir) => {
        seenDir = dir;
        // The checkout holds that commit's program and chart.
        const { stdout } = await promisify(execFile)('git', ['rev-parse', 'HEAD'], { cwd: dir });
        calls.push(
          `program at ${stdout.trim()}`,
          `chart ${readFileSync(path.join(dir, 'helm/Chart.yaml'), 'utf8').includes('name:')}`,
        );
        return {
          ...stack,
          setConfig: async (k, v) => void calls.push(`set ${k}=${v.value}`),
          removeConfig: async (k) => void calls.push(`remove ${k}`),
          up: async (o) => void calls.push(`up: ${o.message}`),
        };
      },
    });
    expect(calls).toEqual([
      `program at ${commit}`,
      'chart true',
      `set ainp:imageDigest=${withCommit[1]!.config!['ainp:imageDigest']!.value}`,
      'set ainp:logLevel=info',
      // The stack file's obsolete commit is not the one that runs: removed, not recorded again.
      'remove ainp:sourceCommit',
      `up: rollback to version 1 of 2026-11-26T00:01:32Z [source ${commit}]`,
    ]);
    expect(() => readFileSync(path.join(seenDir, 'package.json'))).toThrow();
    const { stdout } = await promisify(execFile)('git', ['worktree', 'list'], { cwd: root });
    expect(stdout).not.toContain(seenDir);
  });

  it('promote records the digest by committing Pulumi.prod.yaml alone; sourceCommit names changed files, not stack files', async () => {
    const git = (cwd: string, ...args: string[]) => promisify(execFile)('git', args, { cwd });
    const repo = scratchDir('ainp-promote');
    await git(repo, 'init', '--quiet');
    await git(repo, 'config', 'user.email', 'ops@localhost');
    await git(repo, 'config', 'user.name', 'ops');
    writeFileSync(path.join(repo, 'Pulumi.prod.yaml'), 'config:\n  ainp:imageDigest: ""\n');
    writeFileSync(path.join(repo, 'other.txt'), 'one\n');
    await git(repo, 'add', '.');
    await git(repo, 'commit', '--quiet', '-m', 'init');
    const clean = (await sourceCommit(repo))!;
    expect(clean).toEqual({ commit: expect.stringMatching(/^[0-9a-f]{40}$/), dirty: [] });
    const digest = `sha256:${'d'.repeat(64)}`;
    // What setConfig and promote write: the stack file, whose config each update keeps in history.
    writeFileSync(path.join(repo, 'Pulumi.prod.yaml'), `config:\n  ainp:imageDigest: ${digest}\n`);
    expect(await sourceCommit(repo)).toEqual(clean);
    writeFileSync(path.join(repo, 'other.txt'), 'two\n'); // an unrelated edit stays uncommitted
    expect(await sourceCommit(repo)).toEqual({ commit: clean.commit, dirty: ['other.txt'] });
    const commit = await commitStackFile(
      repo,
      path.join(repo, 'Pulumi.prod.yaml'),
      `promote ${digest} to prod`,
    );
    const { stdout: files } = await git(repo, 'show', '--name-only', '--format=%s', commit);
    expect(files.trim().split('\n')).toEqual([`promote ${digest} to prod`, '', 'Pulumi.prod.yaml']);
    const { stdout: status } = await git(repo, 'status', '--porcelain');
    expect(status.trim()).toBe('M other.txt');
  });

  it('refuses a dirty or missing source commit unless forced, naming the changed files', () => {
    const a = 'a'.repeat(40);
    expect(rollbackSource({ commit: a, dirty: [] }, false)).toEqual({ ok: true, commit: a });
    expect(rollbackSource({ commit: a, dirty: ['helm/values.yaml', 'infra/index.ts'] }, false)).toEqual({
      ok: false,
      reason: `cannot restore what ran at that update: its program came from commit ${a} with uncommitted changes to helm/values.yaml, infra/index.ts; updates from a clean tree can be restored; pass --force to restore its config with today's program and chart`,
    });
    expect(rollbackSource(undefined, true)).toMatchObject({
      ok: true,
      commit: undefined,
      warning: expect.stringContaining('--force'),
    });
  });

  it('an update records its source at the end of its message, and rollback reads it back', () => {
    const a = 'a'.repeat(40);
    const e = (message: string, config?: HistoryEntry['config']): HistoryEntry => ({
      version: 0,
      kind: 'update',
      result: 'succeeded',
      startTime: '2026-11-26T00:00:00Z',
      message,
      config,
    });
    const clean = withSource('promote sha256:x', { commit: a, dirty: [] });
    expect(clean).toBe(`promote sha256:x [source ${a}]`);
    expect(recordedSource(e(clean))).toEqual({ commit: a, dirty: [] });
    const dirty = withSource('up', { commit: a, dirty: ['helm/values.yaml', 'infra/x.ts'] });
    expect(dirty).toBe(`up [source ${a} dirty: helm/values.yaml, infra/x.ts]`);
    expect(recordedSource(e(dirty))).toEqual({ commit: a, dirty: ['helm/values.yaml', 'infra/x.ts'] });
    const many = withSource('up', { commit: a, dirty: Array.from({ length: 25 }, (_, i) => `f${i}`) });
    expect(many).toMatch(/ f19 and 5 more\]$/);
    // Updates from before: the commit in the config (ainp:sourceCommit), or nothing at all.
    expect(recordedSource(e('old', { 'ainp:sourceCommit': { value: a } }))).toEqual({ commit: a, dirty: [] });
    expect(recordedSource(e('old', { 'ainp:sourceCommit': { value: `${a}-dirty` } }))).toEqual({
      commit: a,
      dirty: ['(files not recorded)'],
    });
    expect(recordedSource(e('by hand'))).toBeUndefined();
  });
});

describe('kubectl health decisions (kubectl JSON recorded in the cluster lane)', () => {
  const recorded = (state: string) => ({
    deployment: fixture<Deployment>(`kubectl/${state}/deployment.json`),
    hpa: fixture<HorizontalPodAutoscaler>(`kubectl/${state}/hpa.json`),
    pods: fixture<{ items: Pod[] }>(`kubectl/${state}/pods.json`).items,
    migrationJob: fixture<Job>(`kubectl/${state}/job.json`),
    cronJobs: fixture<{ items: CronJob[] }>(`kubectl/${state}/cronjobs.json`).items,
  });
  const { deployment, hpa, pods, migrationJob, cronJobs } = recorded('healthy');
  const finalizer = cronJobs.find((c) => c.metadata.name === 'ainp-broker-finalizer')!;
  // When it was recorded: just after the finalizer's last success.
  const now = new Date(Date.parse(finalizer.status.lastSuccessfulTime!) + 10_000);
  const healthy: HealthInputs = {
    deployment,
    hpa,
    pods,
    migrationJob,
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
      ...cronJobs.map((c) => [`cronjob ${c.metadata.name}`, 'ok']),
      ['/ready', 'ok'],
    ]);
    expect(r.checks[0]!.detail).toBe('2/2 replicas updated and available');
    expect(r.exitCode).toBe(0);
  });

  it('a Deployment scaled to 0 fails rollout and pods against the HPA minimum', () => {
    const zero = recorded('scaled-to-zero');
    expect(zero.deployment.spec.replicas).toBe(0);
    const r = evaluateHealth({ ...zero, ready: { status: 200 }, now });
    expect(r.checks.slice(0, 2)).toEqual([
      { name: 'rollout', level: 'fail', detail: 'scaled to 0 replicas, below the HPA minimum of 2' },
      { name: 'pods', level: 'fail', detail: `0/2 pods ready` },
    ]);
    expect(wantedReplicas(zero.deployment, zero.hpa)).toBe(2);
    expect(r.exitCode).toBe(1);
  });

  it('a rollout in progress or stuck', () => {
    const rolling = structuredClone(deployment);
    rolling.status.updatedReplicas = 1;
    rolling.status.replicas = 3;
    expect(rolloutCheck(rolling)).toMatchObject({
      level: 'fail',
      detail: 'rollout incomplete: 1/2 updated, 2/2 available, 2 old replicas',
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
    expect(podsCheck(p, 2)).toEqual({ name: 'pods', level: 'fail', detail: '1/2 pods ready' });
    p[0]!.status.containerStatuses![0]!.state = { waiting: { reason: 'CrashLoopBackOff' } };
    expect(podsCheck(p, 2).detail).toBe(`crash-looping: ${p[0]!.metadata.name}/broker`);
  });

  it('a failed migration fails; a missing one (TTL) only warns', () => {
    expect(migrationCheck(migrationJob)).toEqual({ name: 'migration job', level: 'ok', detail: 'succeeded' });
    const failed = structuredClone(migrationJob!);
    failed.status = {
      failed: 3,
      conditions: [{ type: 'Failed', status: 'True', message: 'BackoffLimitExceeded' }],
    };
    expect(migrationCheck(failed)).toMatchObject({ level: 'fail', detail: 'failed: BackoffLimitExceeded' });
    expect(migrationCheck(undefined).level).toBe('warn');
  });

  it('a CronJob whose last success is older than twice its schedule', () => {
    const last = Date.parse(finalizer.status.lastSuccessfulTime!); // every minute
    expect(cronJobCheck(finalizer, new Date(last + 120_000))).toMatchObject({
      level: 'ok',
      detail: 'last success 120 s ago (limit 120 s)',
    });
    expect(cronJobCheck(finalizer, new Date(last + 121_000))).toMatchObject({
      level: 'fail',
      detail: 'last success 121 s ago, over twice its schedule (120 s)',
    });
    const created = Date.parse(finalizer.metadata.creationTimestamp!);
    const fresh = { ...finalizer, status: {} };
    expect(cronJobCheck(fresh, new Date(created + 60_000)).level).toBe('ok');
    expect(cronJobCheck(fresh, new Date(created + 600_000)).level).toBe('fail');
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

  const health = async (env: Record<string, string> = {}, args: string[] = []) => {
    const log = path.join(scratchDir('ainp-kubectl'), 'calls.log');
    const result = await run(
      process.execPath,
      ['--import', 'tsx', 'infra/ops/health.ts', '--namespace', 'ainp-prod', ...args],
      {
        env: {
          ...process.env,
          KUBECTL: path.resolve('test/helpers/fake-kubectl.mjs'),
          FAKE_KUBECTL_DIR: path.resolve('test/fixtures/kubectl/healthy'),
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
    // The stand-in makes the newest success 30 s old when it answers; a loaded machine adds seconds.
    expect(r.stdout).toMatch(/ok {3}cronjob ainp-broker-finalizer: last success 3\d s ago \(limit 120 s\)/);
    expect(r.stdout).toContain('health: OK');
    expect(r.calls).toEqual(
      expect.arrayContaining([
        '-n ainp-prod get deployment ainp-broker -o json',
        '-n ainp-prod get hpa ainp-broker -o json',
        '-n ainp-prod get pods -l app.kubernetes.io/instance=ainp-broker,app.kubernetes.io/component=api -o json',
        '-n ainp-prod get job ainp-broker-migrate -o json',
        '-n ainp-prod get cronjobs -l app.kubernetes.io/instance=ainp-broker -o json',
        '-n ainp-prod port-forward svc/ainp-broker 0:80',
      ]),
    );
  });

  it("asks the stack's cluster: every kubectl call carries --context", async () => {
    readyStatus = 200;
    const r = await health({}, ['--context', 'ainp-prod']);
    expect(r.code).toBe(0);
    expect(r.calls).toHaveLength(6);
    for (const call of r.calls) expect(call).toMatch(/^--context ainp-prod -n ainp-prod /);
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

describe('the Pulumi CLI the ops commands run', () => {
  it('refuses a CLI too old to run the policy pack as an executable, naming the version', () => {
    expect(pulumiCliProblem('v3.274.1')).toBeUndefined();
    expect(pulumiCliProblem('v3.280.0')).toBeUndefined();
    expect(pulumiCliProblem('3.1000.0')).toBeUndefined();
    expect(pulumiCliProblem('v3.99.0')).toBe(
      'the pulumi CLI on PATH is v3.99.0; the policy pack needs 3.274.1 or later (it runs the pack as an executable): upgrade it (pulumi.com/docs/install) or put .tools/bin first on PATH',
    );
    expect(pulumiCliProblem('v3.274.0')).toMatch(/^the pulumi CLI on PATH is v3\.274\.0;/);
    expect(pulumiCliProblem(undefined)).toMatch(/^the pulumi CLI on PATH is of an unknown version;/);
  });
});
