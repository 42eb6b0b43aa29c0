import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { CronJob, Deployment, HealthInputs, HorizontalPodAutoscaler, Job, Pod } from './kube-health.js';

const run = promisify(execFile);
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

/** `--context X` when a stack names its cluster; nothing for the current context. */
export const contextArgs = (context: string | undefined) => (context ? ['--context', context] : []);

/** `kubectl get ... -o json`; undefined when the object does not exist. Thin: no decisions here. */
async function getJson<T>(args: string[]): Promise<T | undefined> {
  try {
    const { stdout } = await run(KUBECTL, [...args, '-o', 'json'], { maxBuffer: 50 * 1024 * 1024 });
    return JSON.parse(stdout) as T;
  } catch (err) {
    if (/NotFound|not found/.test(String((err as { stderr?: string }).stderr ?? err))) return undefined;
    throw err;
  }
}

/** What to do where /ready cannot be reached through a port-forward. */
export const PORT_FORWARD_HINT =
  "where no port-forward can reach a pod (the loopback cluster's kwok nodes have no kubelet), pass --ready-url URL";

/** GET /ready through `kubectl port-forward svc/<release> 0:80`, then stop the forward. */
async function readyThroughPortForward(
  context: string | undefined,
  namespace: string,
  service: string,
): Promise<HealthInputs['ready']> {
  const child = spawn(
    KUBECTL,
    [...contextArgs(context), '-n', namespace, 'port-forward', `svc/${service}`, '0:80'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  try {
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('port-forward did not start within 15 s')), 15_000);
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      // After the output is read: kubectl's error is on stderr, and says why (no running pod...).
      child.on('close', (code) =>
        reject(
          new Error(
            `port-forward exited ${code}${stderr.trim() ? `: ${stderr.trim().split('\n').join(' ')}` : ''}`,
          ),
        ),
      );
    });
    const res = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { error: `${(err as Error).message} (${PORT_FORWARD_HINT})` };
  } finally {
    child.kill();
  }
}

/** GET a /ready URL directly (`--ready-url`): for clusters whose pods cannot be port-forwarded to. */
async function readyAt(url: string): Promise<HealthInputs['ready']> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { error: `${url}: ${(err as Error).message}` };
  }
}

export type HealthTarget = {
  /** The kubeconfig context of the stack's cluster (`kubernetes:context`); the current one if unset. */
  context?: string | undefined;
  namespace: string;
  release: string;
  migrationJob: string;
  /** Check this URL instead of /ready through a port-forward to the Service. */
  readyUrl?: string | undefined;
};

/** The kubectl queries of a health check (`get ... -o json`), by what they fetch. */
export function healthQueries(t: HealthTarget) {
  const ns = [...contextArgs(t.context), '-n', t.namespace];
  const selector = `app.kubernetes.io/instance=${t.release}`;
  return {
    deployment: [...ns, 'get', 'deployment', t.release],
    hpa: [...ns, 'get', 'hpa', t.release],
    pods: [...ns, 'get', 'pods', '-l', `${selector},app.kubernetes.io/component=api`],
    job: [...ns, 'get', 'job', t.migrationJob],
    cronjobs: [...ns, 'get', 'cronjobs', '-l', selector],
  };
}

export async function gatherHealth(t: HealthTarget): Promise<HealthInputs> {
  const q = healthQueries(t);
  const [deployment, hpa, pods, migrationJob, cronJobs, ready] = await Promise.all([
    getJson<Deployment>(q.deployment),
    getJson<HorizontalPodAutoscaler>(q.hpa),
    getJson<{ items: Pod[] }>(q.pods),
    getJson<Job>(q.job),
    getJson<{ items: CronJob[] }>(q.cronjobs),
    t.readyUrl ? readyAt(t.readyUrl) : readyThroughPortForward(t.context, t.namespace, t.release),
  ]);
  return {
    deployment,
    hpa,
    pods: pods?.items ?? [],
    migrationJob,
    cronJobs: cronJobs?.items ?? [],
    ready,
    now: new Date(),
  };
}
