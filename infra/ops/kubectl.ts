import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { CronJob, Deployment, HealthInputs, Job, Pod } from './kube-health.js';

const run = promisify(execFile);
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

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

/** GET /ready through `kubectl port-forward svc/<release> 0:80`, then stop the forward. */
async function readyThroughPortForward(namespace: string, service: string): Promise<HealthInputs['ready']> {
  const child = spawn(KUBECTL, ['-n', namespace, 'port-forward', `svc/${service}`, '0:80'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
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
      child.on('exit', (code) => reject(new Error(`port-forward exited ${code}`)));
    });
    const res = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    child.kill();
  }
}

export async function gatherHealth(t: {
  namespace: string;
  release: string;
  migrationJob: string;
}): Promise<HealthInputs> {
  const ns = ['-n', t.namespace];
  const selector = `app.kubernetes.io/instance=${t.release}`;
  const [deployment, pods, migrationJob, cronJobs, ready] = await Promise.all([
    getJson<Deployment>([...ns, 'get', 'deployment', t.release]),
    getJson<{ items: Pod[] }>([...ns, 'get', 'pods', '-l', `${selector},app.kubernetes.io/component=api`]),
    getJson<Job>([...ns, 'get', 'job', t.migrationJob]),
    getJson<{ items: CronJob[] }>([...ns, 'get', 'cronjobs', '-l', selector]),
    readyThroughPortForward(t.namespace, t.release),
  ]);
  return {
    deployment,
    pods: pods?.items ?? [],
    migrationJob,
    cronJobs: cronJobs?.items ?? [],
    ready,
    now: new Date(),
  };
}
