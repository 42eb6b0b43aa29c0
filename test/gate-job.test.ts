import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { gateVerdict } from '../infra/ops/gate-verdict.js';
import {
  gateCommand,
  gateJobManifests,
  k6ExitFromLog,
  k6VersionFromLog,
  reportFromLog,
  runGateJob,
  scriptFiles,
  stuckPod,
  summaryFromLog,
  SUMMARY_BEGIN,
  SUMMARY_END,
  type GatePod,
} from '../infra/ops/gate-job.js';
import { scratchDir } from './helpers/tmp.js';
import { renderChart, validateManifest, type Manifest } from './helpers/k8s.js';

const IMAGE = `grafana/k6@sha256:${'4'.repeat(64)}`;
const base = {
  namespace: 'ainp-staging',
  release: 'ainp-broker',
  secret: 'ainp-broker-env',
  image: IMAGE,
  script: 'load' as const,
  runId: 'r1',
  env: { DURATION: '50s' },
};

describe('the in-cluster gate Job', () => {
  it('ships loadtests/ in a ConfigMap mounted at the same paths, and runs k6 on it beside the broker', async () => {
    const [cm, job] = gateJobManifests(base) as [Manifest, Manifest];
    for (const m of [cm, job]) await validateManifest(m);
    const files = scriptFiles();
    expect(Object.keys(files)).toEqual(
      expect.arrayContaining(['smoke.ts', 'load.ts', 'slo.json', 'lib__api.ts']),
    );
    expect(cm.data).toEqual(files);
    const pod = job.spec.template.spec;
    const items = pod.volumes.find((v: any) => v.name === 'scripts').configMap.items;
    expect(items).toContainEqual({ key: 'lib__api.ts', path: 'lib/api.ts' });
    const c = pod.containers[0];
    expect(c.image).toBe(IMAGE);
    expect(c.command).toEqual(gateCommand('load'));
    expect(c.command[2]).toContain('k6 run --quiet --no-color /scripts/load.ts');
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      TARGET: 'http://ainp-broker.ainp-staging.svc',
      DURATION: '50s',
      SUMMARY_STDOUT: '1',
      // The web dashboard's HTML export, which the command prints back (the pod's /tmp goes with it).
      K6_WEB_DASHBOARD: 'true',
      K6_WEB_DASHBOARD_PORT: '-1',
      K6_WEB_DASHBOARD_EXPORT: '/tmp/load-report.html',
      ADMIN_TOKEN: { secretKeyRef: { name: 'ainp-broker-env', key: 'ADMIN_TOKEN' } },
    });
    // Pod Security restricted: non-root, no escalation, no capabilities, RuntimeDefault seccomp.
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 1800 });
    expect(job.spec.template.metadata.labels['ainp.io/gate']).toBe('true');
  });

  it('refuses an image that is not pinned by digest', () => {
    expect(() => gateJobManifests({ ...base, image: 'grafana/k6:1.8.1' })).toThrow(
      'must be pinned by digest',
    );
  });

  it('reads the summary from the log between its markers', () => {
    const summary = { metrics: { http_reqs: { type: 'counter', values: { count: 3 } } } };
    const log = `load against x\n${SUMMARY_BEGIN}\n${JSON.stringify(summary)}\n${SUMMARY_END}\n`;
    expect(summaryFromLog(log)).toEqual(summary);
    expect(summaryFromLog('no summary here')).toBeUndefined();
    // k6's stderr, interleaved by the Job's log (seen in the promotion lane), is not the summary's.
    const pretty = JSON.stringify(summary, null, 2).split('\n');
    const interleaved = [
      SUMMARY_BEGIN,
      ...pretty.slice(0, 3),
      'time="2026-12-07T21:20:00Z" level=error msg="thresholds on metrics \'http_req_duration\' have been crossed"',
      ...pretty.slice(3),
      SUMMARY_END,
    ].join('\n');
    expect(summaryFromLog(interleaved)).toEqual(summary);
  });

  it("is let through the broker's NetworkPolicy to the API port", async () => {
    const ms = await renderChart([]);
    const np = ms.find((m) => m.kind === 'NetworkPolicy')!;
    const api = np.spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === 8080));
    expect(api.from).toContainEqual({ podSelector: { matchLabels: { 'ainp.io/gate': 'true' } } });
  });
});

const run = promisify(execFile);
const SUMMARY = { metrics: { http_reqs: { type: 'counter', values: { count: 3, rate: 1 } } } };
// A report with bytes a log line would mangle unencoded (newlines, a NUL, non-ASCII).
const REPORT = '<!doctype html>\n<p>p95 \u00e9 \u2713</p>\u0000\n'.repeat(200);

/**
 * A k6 stand-in for the container's command: `version` says which k6 it is, `run` prints the
 * summary between the markers (as loadtests/lib does with SUMMARY_STDOUT) and writes the report
 * where K6_WEB_DASHBOARD_EXPORT says, then exits with FAKE_K6_EXIT.
 */
function fakeK6(dir: string, version: string) {
  const bin = path.join(dir, 'bin');
  const script = [
    '#!/bin/sh',
    `if [ "$1" = version ]; then echo "k6 v${version} (go1.24.4, linux/amd64)"; exit 0; fi`,
    `printf '%s\\n%s\\n%s\\n' '${SUMMARY_BEGIN}' '${JSON.stringify(SUMMARY)}' '${SUMMARY_END}'`,
    `cp "${path.join(dir, 'report.html')}" "$K6_WEB_DASHBOARD_EXPORT"`,
    'exit ${FAKE_K6_EXIT:-0}',
  ].join('\n');
  writeFileSync(path.join(dir, 'report.html'), REPORT);
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, 'k6'), script);
  chmodSync(path.join(bin, 'k6'), 0o755);
  return bin;
}

describe("the gate Job's command, run by a real sh", () => {
  const script = `ainp-test-${process.pid}`;
  const exported = `/tmp/${script}-report.html`;
  afterEach(() => rmSync(exported, { force: true }));

  it('prints the k6 version, the summary and the HTML report (byte for byte) and keeps k6’s exit status', async () => {
    const dir = scratchDir('ainp-fake-k6');
    const bin = fakeK6(dir, '1.4.2');
    const [sh, flag, text] = gateCommand(script);
    const out = await run(sh!, [flag!, text!], {
      env: { PATH: `${bin}:${process.env.PATH}`, K6_WEB_DASHBOARD_EXPORT: exported },
    });
    expect(k6VersionFromLog(out.stdout)).toBe('1.4.2');
    expect(summaryFromLog(out.stdout)).toEqual(SUMMARY);
    expect(reportFromLog(out.stdout)!.toString('utf8')).toBe(REPORT);
    const failed = await run(sh!, [flag!, text!], {
      env: { PATH: `${bin}:${process.env.PATH}`, K6_WEB_DASHBOARD_EXPORT: exported, FAKE_K6_EXIT: '99' },
    }).catch((e: { code: number; stdout: string }) => e);
    expect('code' in failed && failed.code).toBe(99);
    // k6's status is in the log too: runGateJob reports it for a failed Job.
    expect(k6ExitFromLog((failed as { stdout: string }).stdout)).toBe(99);
    expect(k6ExitFromLog(out.stdout)).toBe(0);
  });
});

/** Pods as the API returns them for a gate Job whose pod cannot start (the fields read, nothing more). */
const pullBackOff: GatePod = {
  metadata: { name: 'ainp-broker-gate-smoke-r1-x7k2p' },
  status: {
    conditions: [{ type: 'PodScheduled', status: 'True' }],
    containerStatuses: [
      {
        name: 'k6',
        state: {
          waiting: {
            reason: 'ImagePullBackOff',
            message: 'Back-off pulling image "grafana/k6@sha256:4444"',
          },
        },
      },
    ],
  },
};
const unschedulable = (since: string): GatePod => ({
  metadata: { name: 'ainp-broker-gate-load-r1-q9z8w' },
  status: {
    conditions: [
      {
        type: 'PodScheduled',
        status: 'False',
        reason: 'Unschedulable',
        message: '0/3 nodes are available: 3 Insufficient cpu.',
        lastTransitionTime: since,
      },
    ],
  },
});

describe('a gate Job whose pod no node can take (kubectl JSON recorded from the loopback control plane)', () => {
  // test/fixtures/kubectl/gate-unschedulable/record.sh: the real kube-scheduler's verdict on the
  // gate Job's pod with a CPU request no node has.
  const { items } = JSON.parse(
    readFileSync('test/fixtures/kubectl/gate-unschedulable/pods.json', 'utf8'),
  ) as { items: GatePod[] };
  const since = Date.parse(
    items[0]!.status!.conditions!.find((c) => c.type === 'PodScheduled')!.lastTransitionTime!,
  );

  it('waits while a scale-up may still place it, then gives up with the scheduler’s message', () => {
    expect(stuckPod(items, new Date(since + 60_000))).toBeUndefined();
    expect(stuckPod(items, new Date(since + 121_000))).toMatch(
      /^pod ainp-broker-gate-load-fixture-[a-z0-9]{5}: Unschedulable for 121 s: 0\/2 nodes are available: 2 Insufficient cpu\./,
    );
  });
});

describe('a gate Job whose pod cannot start', () => {
  const now = new Date('2026-12-07T12:10:00Z');
  it('is given up at once on an image pull failure, and after two minutes unschedulable', () => {
    expect(stuckPod([pullBackOff], now)).toBe(
      'pod ainp-broker-gate-smoke-r1-x7k2p: ImagePullBackOff: Back-off pulling image "grafana/k6@sha256:4444"',
    );
    const errPull = structuredClone(pullBackOff);
    errPull.status!.containerStatuses![0]!.state!.waiting = { reason: 'ErrImagePull' };
    expect(stuckPod([errPull], now)).toBe('pod ainp-broker-gate-smoke-r1-x7k2p: ErrImagePull');
    // A scale-up may still place it: not yet.
    expect(stuckPod([unschedulable('2026-12-07T12:09:00Z')], now)).toBeUndefined();
    expect(stuckPod([unschedulable('2026-12-07T12:07:30Z')], now)).toBe(
      'pod ainp-broker-gate-load-r1-q9z8w: Unschedulable for 150 s: 0/3 nodes are available: 3 Insufficient cpu.',
    );
    // Pulling, or waiting for a container to start, is not stuck.
    const creating = structuredClone(pullBackOff);
    creating.status!.containerStatuses![0]!.state!.waiting = { reason: 'ContainerCreating' };
    expect(stuckPod([creating], now)).toBeUndefined();
  });
});

/**
 * runGateJob against a kubectl stand-in (KUBECTL): it answers `get job`, `get pods` and `logs`
 * from files and records every call, so what runGateJob asks and decides is checked without a cluster.
 */
function fakeKubectl(dir: string, o: { job: unknown; pods: GatePod[]; log: string }) {
  writeFileSync(path.join(dir, 'job.json'), JSON.stringify(o.job));
  writeFileSync(path.join(dir, 'pods.json'), JSON.stringify({ items: o.pods }));
  writeFileSync(path.join(dir, 'log.txt'), o.log);
  const bin = path.join(dir, 'kubectl');
  writeFileSync(
    bin,
    [
      '#!/bin/sh',
      `echo "$*" >> "${dir}/calls"`,
      'case "$*" in',
      `  *apply*) cat > "${dir}/applied.json" ;;`,
      `  *"get job"*) cat "${dir}/job.json" ;;`,
      `  *"get pods"*) cat "${dir}/pods.json" ;;`,
      `  *logs*) cat "${dir}/log.txt" ;;`,
      'esac',
    ].join('\n'),
  );
  chmodSync(bin, 0o755);
  return bin;
}

describe('runGateJob (kubectl stand-in)', () => {
  const saved = process.env.KUBECTL;
  afterEach(() => {
    if (saved === undefined) delete process.env.KUBECTL;
    else process.env.KUBECTL = saved;
  });
  const logOf = (version: string) =>
    [
      `==ainp-k6-version==k6 v${version} (go1.24.4, linux/amd64)`,
      SUMMARY_BEGIN,
      JSON.stringify(SUMMARY),
      SUMMARY_END,
      '==ainp-report-base64==',
      Buffer.from(REPORT).toString('base64').replace(/.{76}/g, '$&\n'),
      '==ainp-report-end==',
    ].join('\n');
  const complete = { status: { conditions: [{ type: 'Complete', status: 'True' }] } };

  it('keeps the summary, the HTML report and the log in the summary folder, as the local gate does', async () => {
    const dir = scratchDir('ainp-fake-kubectl');
    process.env.KUBECTL = fakeKubectl(dir, { job: complete, pods: [], log: logOf('1.4.2') });
    const out = path.join(dir, 'out');
    const r = await runGateJob({ ...base, script: 'smoke', summaryDir: out, context: 'ainp-staging' });
    expect(r).toEqual({
      script: 'smoke',
      exitCode: 0,
      summary: SUMMARY,
      report: path.join(out, 'smoke-report.html'),
    });
    expect(readFileSync(path.join(out, 'smoke-report.html'), 'utf8')).toBe(REPORT);
    expect(JSON.parse(readFileSync(path.join(out, 'smoke-summary.json'), 'utf8'))).toEqual(SUMMARY);
    // The whole log too: the chaos run's journal is read from it.
    expect(readFileSync(path.join(out, 'smoke.log'), 'utf8')).toBe(logOf('1.4.2'));
    const calls = readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n');
    expect(calls[0]).toBe('--context ainp-staging apply -f -');
    expect(calls.at(-1)).toBe(
      '--context ainp-staging -n ainp-staging delete job,configmap ainp-broker-gate-smoke-r1 --ignore-not-found --wait=false',
    );
  });

  it('reports k6’s own exit status for a failed Job: thresholds failed (99), not a bare error', async () => {
    const dir = scratchDir('ainp-fake-kubectl');
    const failedJob = { status: { conditions: [{ type: 'Failed', status: 'True' }] } };
    process.env.KUBECTL = fakeKubectl(dir, {
      job: failedJob,
      pods: [],
      log: `${logOf('1.4.2')}\n==ainp-k6-exit==99`,
    });
    const r = await runGateJob({ ...base, script: 'load', summaryDir: path.join(dir, 'out') });
    expect(r.exitCode).toBe(99);
    // This summary names no failed threshold, so the verdict says what the status means.
    expect(gateVerdict([r]).reasons).toContain('load: k6 exited 99 (thresholds failed)');
  });

  it('fails a run whose image is a k6 too old for TypeScript scripts', async () => {
    const dir = scratchDir('ainp-fake-kubectl');
    process.env.KUBECTL = fakeKubectl(dir, { job: complete, pods: [], log: logOf('0.54.0') });
    const r = await runGateJob({ ...base, script: 'smoke', summaryDir: path.join(dir, 'out') });
    expect(r.exitCode).toBe(1);
    expect(r.problem).toBe(
      `gateImage ${IMAGE} is k6 0.54.0; the gate's TypeScript scripts need k6 0.57.0 or later`,
    );
    expect(gateVerdict([r]).reasons[0]).toBe(`smoke: ${r.problem}`);
  });

  it('gives up at the first poll on a pod that cannot pull its image, and deletes the Job', async () => {
    const dir = scratchDir('ainp-fake-kubectl');
    process.env.KUBECTL = fakeKubectl(dir, { job: { status: { active: 1 } }, pods: [pullBackOff], log: '' });
    const started = Date.now();
    const r = await runGateJob({ ...base, script: 'smoke', summaryDir: path.join(dir, 'out') });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(r).toEqual({
      script: 'smoke',
      exitCode: 1,
      summary: undefined,
      problem:
        'gate Job ainp-broker-gate-smoke-r1: pod ainp-broker-gate-smoke-r1-x7k2p: ImagePullBackOff: Back-off pulling image "grafana/k6@sha256:4444"',
    });
    const calls = readFileSync(path.join(dir, 'calls'), 'utf8');
    expect(calls).toContain('-n ainp-staging get pods -l job-name=ainp-broker-gate-smoke-r1 -o json');
    expect(calls).toContain('-n ainp-staging delete job,configmap ainp-broker-gate-smoke-r1');
    expect(existsSync(path.join(dir, 'out', 'smoke-summary.json'))).toBe(false);
  });
});
