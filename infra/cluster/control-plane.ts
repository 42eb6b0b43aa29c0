import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  fakeNodes,
  kubeconfig,
  paths,
  processSpecs,
  tokenFile,
  type Ports,
  type ProcessSpec,
} from './plan.js';
import { startNode, type NodeState } from './node.js';
import { CLUSTER_DOMAIN, HOST_SIDE_IP, KUBERNETES_SERVICE_IP } from './node-plan.js';
import { mountsUnder, stopNode, sweepNode } from './node-sweep.js';

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
/** The tools scripts/tools.sh builds (`scripts/tools.sh cluster`). */
export const TOOLS_BIN = process.env.AINP_TOOLS_BIN ?? path.join(ROOT, '.tools/bin');
export const CRD_DIR = path.join(ROOT, 'infra/crds');

/** What a running control plane leaves in its folder (`state.json`) for `down` and `env`. */
export type ClusterState = {
  dir: string;
  bin: string;
  kubeconfig: string;
  server: string;
  ports: Ports;
  processes: { name: string; pid: number }[];
  /** The real node (infra/cluster/node.ts), when it was asked for. */
  node?: NodeState;
};

export type ControlPlane = ClusterState & {
  /** kubectl with this cluster's kubeconfig; resolves with stdout, rejects with stderr. */
  kubectl(args: string[], input?: string): Promise<string>;
  /** Ends every process group and removes the folder. Safe to call twice. */
  stop(): Promise<void>;
};

async function freePorts(n: number): Promise<number[]> {
  // All listeners stay open until every port is known, so no two are the same.
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export function openssl(args: string[]) {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, the API server's serving certificate for 127.0.0.1, and the service-account key pair. */
function makeKeys(dir: string) {
  const p = paths(dir);
  mkdirSync(path.dirname(p.caCert), { recursive: true });
  const days = ['-days', '7'];
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p.caKey, '-out', p.caCert].concat([
      '-subj',
      '/CN=ainp-local-ca',
      ...days,
    ]),
  );
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p.serverKey, '-out', p.serverCert]
      .concat(['-subj', '/CN=kube-apiserver', '-CA', p.caCert, '-CAkey', p.caKey, ...days])
      // HOST_SIDE_IP: where the real node's components reach it (node-plan.ts); the `kubernetes`
      // Service's address and names: where its pods do (in-cluster clients dial the IP).
      .concat([
        '-addext',
        [
          `subjectAltName=IP:127.0.0.1,IP:${HOST_SIDE_IP},IP:${KUBERNETES_SERVICE_IP},DNS:localhost`,
          ...['kubernetes', 'kubernetes.default', 'kubernetes.default.svc'].map((n) => `DNS:${n}`),
          `DNS:kubernetes.default.svc.${CLUSTER_DOMAIN}`,
        ].join(','),
      ]),
  );
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      p.kubeletClientKey,
      '-out',
      p.kubeletClientCert,
    ]
      .concat(['-subj', '/O=system:masters/CN=kube-apiserver-kubelet-client'])
      .concat(['-CA', p.caCert, '-CAkey', p.caKey, ...days]),
  );
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', p.saKey]);
  openssl(['pkey', '-in', p.saKey, '-pubout', '-out', p.saPub]);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value other than undefined, at most `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${String(last)}` : ''}`,
  );
}

export function alive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function signalGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

type Stoppable = Pick<ClusterState, 'dir' | 'processes' | 'node'> & Partial<ClusterState>;

/** kubectl with a cluster's admin kubeconfig; resolves with stdout, rejects with stderr. */
function kubectlOf(bin: string, kubeconfigPath: string) {
  return async (args: string[], input?: string) => {
    const child = run(path.join(bin, 'kubectl'), ['--kubeconfig', kubeconfigPath, ...args], {
      maxBuffer: 64 * 1024 * 1024,
      timeout: 300_000,
    });
    if (input !== undefined) child.child.stdin!.end(input);
    return (await child).stdout;
  };
}

/** Removes the folder, unless something is still mounted below it (rm would go into the mount). */
function removeFolder(dir: string) {
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`still mounted, ${dir} kept: ${left.join(', ')}`);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Stops the real node first (its pods are deleted through the API server, which must still run),
 * then ends the recorded process groups (TERM, then KILL after 10 s) and removes the folder.
 */
export async function stopCluster(state: Stoppable) {
  if (state.node)
    await stopNode(
      state.dir,
      state.node,
      state.bin && state.kubeconfig ? kubectlOf(state.bin, state.kubeconfig) : undefined,
    );
  const pids = [...state.processes].reverse().map((p) => p.pid);
  for (const pid of pids) signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (pids.some(alive) && Date.now() < deadline) await sleep(100);
  for (const pid of pids.filter(alive)) signalGroup(pid, 'SIGKILL');
  while (pids.some(alive) && Date.now() < deadline + 5_000) await sleep(100);
  removeFolder(state.dir);
}

/** For `process.on('exit')`, where nothing asynchronous runs: KILL every group, remove the folder. */
export function stopClusterSync(state: Stoppable) {
  if (state.node) sweepNode(state.dir, state.node);
  for (const { pid } of state.processes) signalGroup(pid, 'SIGKILL');
  removeFolder(state.dir);
}

export function logTail(dir: string, name: string): string {
  const file = path.join(paths(dir).logs, `${name}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-15).join('\n') : '';
}

export function startProcess(dir: string, spec: ProcessSpec): number {
  const log = openSync(path.join(paths(dir).logs, `${spec.name}.log`), 'a');
  // Its own process group (detached), so stopping it also stops anything it started.
  const child = spawn(spec.command, spec.args, { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${spec.command}`);
  return child.pid;
}

function getReadyz(server: string, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(`${server}/readyz`, { ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

type Node = {
  metadata: { name: string };
  spec?: { taints?: { key: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
};

/**
 * Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on free loopback
 * ports in a new temporary folder, registers two fake nodes (one per zone), waits until they are
 * Ready and schedulable, and installs the CRDs in infra/crds; with `node`, it then starts the real
 * node (node.ts) and waits until it is Ready. With `stopOnExit` (the default) every process group
 * is killed when this process exits; `npm run cluster -- up` turns that off.
 */
export async function startControlPlane(
  opts: {
    bin?: string;
    stopOnExit?: boolean;
    crds?: boolean;
    /** Also keep the state in this file (what `npm run cluster -- down` reads), removed on stop. */
    pointer?: string | undefined;
    /** Also start the real node (infra/cluster/node.ts): containerd, the kubelet and kube-proxy. */
    node?: boolean;
  } = {},
): Promise<ControlPlane> {
  const bin = opts.bin ?? TOOLS_BIN;
  for (const tool of [
    'etcd',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-scheduler',
    'kubectl',
    'kwok',
  ])
    if (!existsSync(path.join(bin, tool)))
      throw new Error(`${tool} is not built: run scripts/tools.sh cluster (looked in ${bin})`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ainp-cluster-'));
  const p = paths(dir);
  mkdirSync(p.logs, { recursive: true });
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok] = await freePorts(6);
  const ports: Ports = { etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok } as Ports;
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const token = randomBytes(24).toString('hex');
  makeKeys(dir);
  writeFileSync(p.tokens, tokenFile(token), { mode: 0o600 });
  writeFileSync(p.kubeconfig, kubeconfig(server, p.caCert, token), { mode: 0o600 });

  const state: ClusterState = { dir, bin, kubeconfig: p.kubeconfig, server, ports, processes: [] };
  const onExit = () => stopClusterSync(state);
  if (opts.stopOnExit !== false) process.on('exit', onExit);
  const save = () => {
    const json = JSON.stringify(state, null, 2);
    writeFileSync(path.join(dir, 'state.json'), json);
    if (opts.pointer) {
      mkdirSync(path.dirname(opts.pointer), { recursive: true });
      writeFileSync(opts.pointer, json);
    }
  };
  const kubectl = kubectlOf(bin, p.kubeconfig);
  const stop = async () => {
    process.off('exit', onExit);
    await stopCluster(state);
    if (opts.pointer) rmSync(opts.pointer, { force: true });
  };

  try {
    const specs = processSpecs({ dir, bin }, ports, { advertise: opts.node ? HOST_SIDE_IP : '127.0.0.1' });
    const start = (spec: ProcessSpec) => {
      state.processes.push({ name: spec.name, pid: startProcess(dir, spec) });
      save();
    };
    const exited = () => state.processes.find((x) => !alive(x.pid));
    const guard = async <T>(check: () => Promise<T | undefined>) => {
      const dead = exited();
      if (dead) throw new Error(`${dead.name} exited:\n${logTail(dir, dead.name)}`);
      return check();
    };

    start(specs[0]!);
    await waitFor('etcd', 30_000, () =>
      guard(async () => {
        const res = await fetch(`http://127.0.0.1:${ports.etcdClient}/health`);
        return res.ok ? true : undefined;
      }),
    );
    start(specs[1]!);
    const ca = readFileSync(p.caCert, 'utf8');
    await waitFor('kube-apiserver /readyz', 90_000, () =>
      guard(async () => ((await getReadyz(server, ca)) ? true : undefined)),
    );
    for (const spec of specs.slice(2)) start(spec);
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: fakeNodes() }),
    );
    await waitFor('two Ready, untainted nodes', 90_000, () =>
      guard(async () => {
        const nodes = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as { items: Node[] };
        const ready = nodes.items.filter(
          (n) =>
            n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
            !(n.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/')),
        );
        return ready.length === 2 ? true : undefined;
      }),
    );
    await waitFor('the default ServiceAccount', 30_000, () =>
      guard(async () =>
        (await kubectl(['get', 'serviceaccount', 'default', '-o', 'name'])) ? true : undefined,
      ),
    );
    if (opts.crds !== false) {
      await kubectl(['apply', '--server-side', '-f', CRD_DIR]);
      // Polled, not `kubectl wait`: that errors on a CRD whose status is not written yet.
      await waitFor('the CRDs to be Established', 60_000, async () => {
        const crds = JSON.parse(await kubectl(['get', 'crd', '-o', 'json'])) as { items: Node[] };
        const established = (c: Node) =>
          c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
        return crds.items.length > 0 && crds.items.every(established) ? true : undefined;
      });
    }
    if (opts.node) {
      const [kubelet, kubeletHealthz, proxyHealthz, proxyMetrics] = await freePorts(4);
      await startNode({
        dir,
        bin,
        apiserverPort: ports.apiserver,
        ports: {
          kubelet: kubelet!,
          kubeletHealthz: kubeletHealthz!,
          proxyHealthz: proxyHealthz!,
          proxyMetrics: proxyMetrics!,
        },
        kubectl,
        save: (node) => {
          state.node = node;
          save();
        },
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...state, kubectl, stop };
}
