import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { K6Run, K6Summary } from './gate-verdict.js';
import { compareVersions, podScheduling, type Scheduling } from '../config.js';
import { contextArgs } from './kubectl.js';
import { ROOT } from './k6.js';

/**
 * The gate run inside the cluster (SPEC 11): k6 as a Job next to the broker, against its Service,
 * so the p95 it measures is the broker's and not the operator's network. The scripts come from
 * loadtests/ in a ConfigMap (the same files `npm run gate` runs locally); the image is k6's, pinned
 * by digest in the stack's `gateImage`; the admin token is read from the broker's own Secret; the
 * pod passes Pod Security `restricted`. The summary comes back in the Job's log between markers
 * (SUMMARY_STDOUT), since the pod's filesystem goes with it, and so do k6's version and the web
 * dashboard's HTML export (base64, between its own markers): the container runs k6 through the
 * image's `sh` (grafana/k6 images are Alpine-based, with busybox's `sh` and `base64`).
 */
export const GATE_LABEL = { 'ainp.io/gate': 'true' } as const;
export const SUMMARY_BEGIN = '==ainp-summary-json==';
export const SUMMARY_END = '==ainp-summary-end==';
export const VERSION_MARK = '==ainp-k6-version==';
export const REPORT_BEGIN = '==ainp-report-base64==';
export const REPORT_END = '==ainp-report-end==';
export const EXIT_MARK = '==ainp-k6-exit==';
/** The first k6 that runs `.ts` scripts without a flag (TypeScript support left experimental in 0.57). */
export const MIN_K6 = '0.57.0';

/**
 * The container's command: k6's version, the run, then the HTML report, each marked in the log;
 * the exit status is k6's.
 */
export function gateCommand(script: string): string[] {
  const report = `/tmp/${script}-report.html`;
  return [
    'sh',
    '-c',
    [
      `echo "${VERSION_MARK}$(k6 version)"`,
      `k6 run --quiet --no-color /scripts/${script}.ts; rc=$?`,
      `echo "${EXIT_MARK}$rc"`,
      `if [ -s ${report} ]; then echo ${REPORT_BEGIN}; base64 ${report}; echo ${REPORT_END}; fi`,
      'exit $rc',
    ].join('\n'),
  ];
}

type Manifest = { apiVersion: string; kind: string; metadata: Record<string, unknown>; [k: string]: unknown };

/** The files of loadtests/ as ConfigMap keys (a key cannot hold `/`: `lib/api.ts` is `lib__api.ts`). */
export function scriptFiles(dir = path.join(ROOT, 'loadtests')): Record<string, string> {
  const files: Record<string, string> = {};
  for (const rel of ['', 'lib'])
    for (const f of readdirSync(path.join(dir, rel)))
      if (/\.(ts|json)$/.test(f) && f !== 'tsconfig.json')
        files[rel ? `${rel}__${f}` : f] = readFileSync(path.join(dir, rel, f), 'utf8');
  return files;
}

export function gateJobManifests(o: {
  namespace: string;
  release: string;
  /** The broker's Secret holding ADMIN_TOKEN. */
  secret: string;
  image: string;
  /** The gate's scripts; `chaos` is the failure run of `npm run test:chaos` (loadtests/chaos.ts). */
  script: 'smoke' | 'load' | 'chaos';
  runId: string;
  env?: Record<string, string>;
  files?: Record<string, string>;
  /** Where the pod runs: the stack's nodeSelector and tolerations (beside the broker). */
  scheduling?: Scheduling;
}): Manifest[] {
  if (!/^[a-z0-9./_:-]+@sha256:[0-9a-f]{64}$/.test(o.image))
    throw new Error(
      `gateImage must be pinned by digest (repository@sha256:<64 hex>), got ${o.image || '(empty)'}`,
    );
  const name = `${o.release}-gate-${o.script}-${o.runId}`.slice(0, 63).replace(/-+$/, '');
  const files = o.files ?? scriptFiles();
  const labels = { 'app.kubernetes.io/name': 'ainp-gate', 'app.kubernetes.io/instance': name, ...GATE_LABEL };
  const env = {
    TARGET: `http://${o.release}.${o.namespace}.svc`,
    SUMMARY_DIR: '/tmp',
    SUMMARY_STDOUT: '1',
    K6_NO_USAGE_REPORT: 'true',
    // The web dashboard exported as one HTML file when the run ends (its server off), as locally.
    K6_WEB_DASHBOARD: 'true',
    K6_WEB_DASHBOARD_PORT: '-1',
    K6_WEB_DASHBOARD_EXPORT: `/tmp/${o.script}-report.html`,
    ...o.env,
  };
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: o.namespace, labels },
      data: files,
    },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, namespace: o.namespace, labels },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: 1800,
        ttlSecondsAfterFinished: 3600,
        template: {
          metadata: { labels },
          spec: {
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            ...(o.scheduling ? podScheduling(o.scheduling) : {}),
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 12345,
              runAsGroup: 12345,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'k6',
                image: o.image,
                command: gateCommand(o.script),
                env: [
                  ...Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
                  {
                    name: 'ADMIN_TOKEN',
                    valueFrom: { secretKeyRef: { name: o.secret, key: 'ADMIN_TOKEN' } },
                  },
                ],
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                resources: {
                  requests: { cpu: '500m', memory: '256Mi' },
                  limits: { cpu: '2', memory: '1Gi' },
                },
                volumeMounts: [
                  { name: 'scripts', mountPath: '/scripts', readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              {
                name: 'scripts',
                configMap: {
                  name,
                  items: Object.keys(files).map((key) => ({ key, path: key.replace('__', '/') })),
                },
              },
              { name: 'tmp', emptyDir: { sizeLimit: '128Mi' } },
            ],
          },
        },
      },
    },
  ];
}

const between = (log: string, begin: string, end: string): string | undefined => {
  const start = log.indexOf(begin);
  const stop = log.indexOf(end, start);
  return start < 0 || stop < 0 ? undefined : log.slice(start + begin.length, stop);
};

/** The k6 summary a gate Job printed in its log; undefined when the run printed none. */
export function summaryFromLog(log: string): K6Summary | undefined {
  const text = between(log, SUMMARY_BEGIN, SUMMARY_END);
  // The Job's log interleaves k6's stderr with its stdout: a log line k6 writes as the run ends
  // (`time="..." level=error msg="thresholds on metrics ... have been crossed"`) can land inside the
  // summary. No line of the JSON starts that way.
  const json = text
    ?.split('\n')
    .filter((line) => !/^time="[^"]*" level=/.test(line))
    .join('\n');
  return json === undefined ? undefined : (JSON.parse(json) as K6Summary);
}

/** The HTML report a gate Job printed (base64) in its log; undefined when k6 wrote none. */
export function reportFromLog(log: string): Buffer | undefined {
  const text = between(log, REPORT_BEGIN, REPORT_END);
  return text === undefined ? undefined : Buffer.from(text, 'base64');
}

/** The k6 version the image reported (`k6 v1.8.1 (...)` -> `1.8.1`); undefined if none. */
export function k6VersionFromLog(log: string): string | undefined {
  const line = log.split('\n').find((l) => l.startsWith(VERSION_MARK));
  return line ? /v?(\d+\.\d+\.\d+)/.exec(line.slice(VERSION_MARK.length))?.[1] : undefined;
}

/** k6's own exit status, as the command printed it (99: thresholds failed); undefined if none. */
export function k6ExitFromLog(log: string): number | undefined {
  const line = log.split('\n').find((l) => l.startsWith(EXIT_MARK));
  const code = line === undefined ? NaN : Number(line.slice(EXIT_MARK.length).trim());
  return Number.isInteger(code) ? code : undefined;
}

/** Why the gate image cannot run the scripts, or undefined when it can. */
export function k6VersionProblem(version: string | undefined, image: string): string | undefined {
  if (!version) return `gateImage ${image} reported no k6 version (is it a k6 image?)`;
  if (compareVersions(version, MIN_K6) < 0)
    return `gateImage ${image} is k6 ${version}; the gate's TypeScript scripts need k6 ${MIN_K6} or later`;
  return undefined;
}

export type GatePod = {
  metadata: { name: string };
  status?: {
    conditions?: {
      type: string;
      status: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: string;
    }[];
    containerStatuses?: { name: string; state?: { waiting?: { reason?: string; message?: string } } }[];
  };
};

/** Waiting reasons that never resolve by themselves: the image cannot be had. */
const PULL_FAILURES = ['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName'];

/**
 * Why a gate Job's pod will not run, or undefined while it may still: an image that cannot be
 * pulled (at once), or a pod the scheduler has found no node for during `unschedulableSeconds`
 * (by then a cluster autoscaler would have added one).
 */
export function stuckPod(pods: GatePod[], now: Date, unschedulableSeconds = 120): string | undefined {
  for (const p of pods) {
    for (const c of p.status?.containerStatuses ?? []) {
      const w = c.state?.waiting;
      if (w?.reason && PULL_FAILURES.includes(w.reason))
        return `pod ${p.metadata.name}: ${w.reason}${w.message ? `: ${w.message}` : ''}`;
    }
    const sched = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (sched?.status === 'False' && sched.reason === 'Unschedulable') {
      const since = sched.lastTransitionTime ? Date.parse(sched.lastTransitionTime) : now.getTime();
      if (now.getTime() - since >= unschedulableSeconds * 1000)
        return `pod ${p.metadata.name}: Unschedulable for ${Math.round((now.getTime() - since) / 1000)} s: ${sched.message ?? ''}`.trim();
    }
  }
  return undefined;
}

/**
 * Runs one gate script as a Job with the real kubectl: applies the ConfigMap and Job, waits for
 * the Job to finish (bounded; given up at once on a pod that cannot start), reads the summary, the
 * k6 version and the HTML report from its log, keeps the summary and the report in `summaryDir`
 * (`<script>-summary.json`, `<script>-report.html`, the local gate's names, and the whole log as
 * `<script>.log`: the chaos run's journal is in it), and deletes both.
 * Thin: the verdict is gateVerdict's.
 */
export async function runGateJob(
  o: Parameters<typeof gateJobManifests>[0] & {
    timeoutSeconds?: number;
    context?: string | undefined;
    summaryDir?: string | undefined;
    pollMs?: number;
  },
): Promise<K6Run> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  const kubectl = process.env.KUBECTL ?? 'kubectl';
  const manifests = gateJobManifests(o);
  const job = manifests[1]!.metadata.name as string;
  const ns = [...contextArgs(o.context), '-n', o.namespace];
  const dir = o.summaryDir ?? mkdtempSync(path.join(os.tmpdir(), 'ainp-k6-'));
  mkdirSync(dir, { recursive: true });
  const apply = run(kubectl, [...contextArgs(o.context), 'apply', '-f', '-'], {
    maxBuffer: 16 * 1024 * 1024,
  });
  apply.child.stdin!.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }));
  await apply;
  try {
    const timeout = o.timeoutSeconds ?? 1800;
    // Complete or Failed, whichever comes first (kubectl wait takes one condition: poll both).
    const deadline = Date.now() + timeout * 1000;
    let state = '';
    while (Date.now() < deadline) {
      const { stdout } = await run(kubectl, [...ns, 'get', 'job', job, '-o', 'json']);
      const conds = (JSON.parse(stdout).status?.conditions ?? []) as { type: string; status: string }[];
      state = conds.find((c) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True')?.type ?? '';
      if (state) break;
      const pods = await run(kubectl, [...ns, 'get', 'pods', '-l', `job-name=${job}`, '-o', 'json'], {
        maxBuffer: 16 * 1024 * 1024,
      });
      const stuck = stuckPod((JSON.parse(pods.stdout) as { items: GatePod[] }).items, new Date());
      if (stuck)
        return { script: o.script, exitCode: 1, summary: undefined, problem: `gate Job ${job}: ${stuck}` };
      await new Promise((r) => setTimeout(r, o.pollMs ?? 2000));
    }
    if (!state) throw new Error(`gate Job ${job} did not finish within ${timeout}s`);
    const { stdout: log } = await run(kubectl, [...ns, 'logs', `job/${job}`], {
      maxBuffer: 64 * 1024 * 1024,
    });
    writeFileSync(path.join(dir, `${o.script}.log`), log);
    const summary = summaryFromLog(log);
    if (summary) writeFileSync(path.join(dir, `${o.script}-summary.json`), JSON.stringify(summary, null, 2));
    const html = reportFromLog(log);
    const report = html ? path.join(dir, `${o.script}-report.html`) : undefined;
    if (report) writeFileSync(report, html!);
    const problem = k6VersionProblem(k6VersionFromLog(log), o.image);
    // A failed Job carries k6's own status (99: thresholds failed), so the verdict says what k6 did.
    const k6Exit = k6ExitFromLog(log);
    return {
      script: o.script,
      exitCode: problem ? 1 : state === 'Complete' ? 0 : k6Exit || 1,
      summary,
      report,
      ...(problem ? { problem } : {}),
    };
  } finally {
    await run(kubectl, [...ns, 'delete', 'job,configmap', job, '--ignore-not-found', '--wait=false']).catch(
      () => undefined,
    );
  }
}
