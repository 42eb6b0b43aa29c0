import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { K6Summary } from './gate-verdict.js';
import { contextArgs } from './kubectl.js';
import { ROOT } from './k6.js';

/**
 * The gate run inside the cluster (SPEC 11): k6 as a Job next to the broker, against its Service,
 * so the p95 it measures is the broker's and not the operator's network. The scripts come from
 * loadtests/ in a ConfigMap (the same files `npm run gate` runs locally); the image is k6's, pinned
 * by digest in the stack's `gateImage`; the admin token is read from the broker's own Secret; the
 * pod passes Pod Security `restricted`. The summary comes back in the Job's log between markers
 * (SUMMARY_STDOUT), since the pod's filesystem goes with it.
 */
export const GATE_LABEL = { 'ainp.io/gate': 'true' } as const;
export const SUMMARY_BEGIN = '==ainp-summary-json==';
export const SUMMARY_END = '==ainp-summary-end==';

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
  script: 'smoke' | 'load';
  runId: string;
  env?: Record<string, string>;
  files?: Record<string, string>;
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
                args: ['run', '--quiet', '--no-color', `/scripts/${o.script}.ts`],
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
              { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
            ],
          },
        },
      },
    },
  ];
}

/** The k6 summary a gate Job printed in its log; undefined when the run printed none. */
export function summaryFromLog(log: string): K6Summary | undefined {
  const start = log.indexOf(SUMMARY_BEGIN);
  const end = log.indexOf(SUMMARY_END, start);
  if (start < 0 || end < 0) return undefined;
  return JSON.parse(log.slice(start + SUMMARY_BEGIN.length, end)) as K6Summary;
}

/**
 * Runs one gate script as a Job with the real kubectl: applies the ConfigMap and Job, waits for
 * the Job to finish (bounded), reads the summary from its log, and deletes both. Thin: the
 * verdict is gateVerdict's.
 */
export async function runGateJob(
  o: Parameters<typeof gateJobManifests>[0] & { timeoutSeconds?: number; context?: string | undefined },
): Promise<{ script: string; exitCode: number; summary: K6Summary | undefined }> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  const kubectl = process.env.KUBECTL ?? 'kubectl';
  const manifests = gateJobManifests(o);
  const job = manifests[1]!.metadata.name as string;
  const ns = [...contextArgs(o.context), '-n', o.namespace];
  const apply = run(kubectl, [...contextArgs(o.context), 'apply', '-f', '-'], {
    maxBuffer: 16 * 1024 * 1024,
  });
  apply.child.stdin!.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }));
  await apply;
  try {
    const timeout = `${o.timeoutSeconds ?? 1800}s`;
    // Complete or Failed, whichever comes first (kubectl wait takes one condition: poll both).
    const deadline = Date.now() + (o.timeoutSeconds ?? 1800) * 1000;
    let state = '';
    while (Date.now() < deadline) {
      const { stdout } = await run(kubectl, [...ns, 'get', 'job', job, '-o', 'json']);
      const conds = (JSON.parse(stdout).status?.conditions ?? []) as { type: string; status: string }[];
      state = conds.find((c) => ['Complete', 'Failed'].includes(c.type) && c.status === 'True')?.type ?? '';
      if (state) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    if (!state) throw new Error(`gate Job ${job} did not finish within ${timeout}`);
    const { stdout: log } = await run(kubectl, [...ns, 'logs', `job/${job}`], {
      maxBuffer: 64 * 1024 * 1024,
    });
    return { script: o.script, exitCode: state === 'Complete' ? 0 : 1, summary: summaryFromLog(log) };
  } finally {
    await run(kubectl, [...ns, 'delete', 'job,configmap', job, '--ignore-not-found', '--wait=false']).catch(
      () => undefined,
    );
  }
}
