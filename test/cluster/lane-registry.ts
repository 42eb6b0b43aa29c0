import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../app/local/free-port.js';
import { ROOT, waitFor } from '../../infra/cluster/control-plane.js';
import { NODE_NETNS } from '../../infra/cluster/node-plan.js';

/**
 * The promotion lane's registry: Debian's docker-registry (distribution 2.8, pinned by
 * scripts/install-deps.sh node) on 127.0.0.1, anonymous, plain http, storage in the lane's folder;
 * and the way the real node's containerd reaches it at the same address. containerd runs in the
 * node's network namespace, whose 127.0.0.1 is its own: a socat there listens on the namespace's
 * 127.0.0.1 at the registry's port and carries each connection over a unix socket (a file, which
 * no network namespace fences) to a socat on the host that connects to the registry. So the image
 * reference `127.0.0.1:PORT/ainp/broker@sha256:...` means the same registry on both sides, and no
 * pod gets a route anywhere: a pod's 127.0.0.1 is its own too, and nothing listens on the node's
 * address. containerd speaks plain http to it through a hosts.toml in its config_path.
 */
const run = promisify(execFile);

export type LaneRegistry = {
  /** 127.0.0.1:PORT */
  host: string;
  stop(): Promise<void>;
  log(): string;
};

/** A process of the lane's, ended by its pid with the registry. */
function started(cmd: string, args: string[], out: { log: string }): ChildProcess {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (c: Buffer) => (out.log = (out.log + c.toString()).slice(-20_000)));
  child.stderr!.on('data', (c: Buffer) => (out.log = (out.log + c.toString()).slice(-20_000)));
  return child;
}

async function stopAll(children: ChildProcess[]) {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 5_000).unref();
        }),
    ),
  );
}

/** The registry's config: filesystem storage in `dir`, no auth, deletes off (tags are the record). */
export function registryConfig(dir: string, host: string): string {
  return [
    'version: 0.1',
    'log: { level: warn, accesslog: { disabled: true } }',
    `storage: { filesystem: { rootdirectory: ${path.join(dir, 'data')} } }`,
    `http: { addr: "${host}" }`,
    '',
  ].join('\n');
}

/** containerd's hosts.toml for a plain-http registry at `host` (pull and resolve only: no push). */
export function hostsToml(host: string): string {
  return [
    `server = "http://${host}"`,
    '',
    `[host."http://${host}"]`,
    '  capabilities = ["pull", "resolve"]',
    '',
  ].join('\n');
}

/** Starts the registry on a free loopback port; resolves when /v2/ answers. */
export async function startRegistry(dir: string): Promise<LaneRegistry> {
  mkdirSync(dir, { recursive: true });
  const host = `127.0.0.1:${await freePort()}`;
  writeFileSync(path.join(dir, 'config.yml'), registryConfig(dir, host));
  const out = { log: '' };
  const children = [started('docker-registry', ['serve', path.join(dir, 'config.yml')], out)];
  const stop = () => stopAll(children);
  await waitFor('the registry to answer /v2/', 20_000, async () => {
    if (children[0]!.exitCode !== null) throw new Error(`docker-registry exited:\n${out.log}`);
    const status = await fetch(`http://${host}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    return status === 200 ? true : undefined;
  }).catch(async (e) => {
    await stop();
    throw e;
  });
  return { host, stop, log: () => out.log };
}

/**
 * Lets the node's containerd pull from `registry`: the two socats (above) and the hosts.toml in
 * `hostsDir` (the node's config_path, nodePaths().registryHosts). Resolves when a request from
 * inside the node's namespace reaches the registry; `stop()` ends both socats.
 */
export async function reachFromNode(
  registry: LaneRegistry,
  o: { dir: string; hostsDir: string },
): Promise<{ stop(): Promise<void> }> {
  const port = registry.host.split(':')[1]!;
  const sock = path.join(o.dir, 'registry.sock');
  const out = { log: '' };
  const children = [
    started('socat', [`UNIX-LISTEN:${sock},fork,mode=600,unlink-early`, `TCP:${registry.host}`], out),
  ];
  const stop = () => stopAll(children);
  try {
    await waitFor('the registry socket', 10_000, async () => (existsSync(sock) ? true : undefined));
    children.push(
      started(
        'nsenter',
        [
          `--net=/run/netns/${NODE_NETNS}`,
          '--',
          'socat',
          `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`,
          `UNIX-CONNECT:${sock}`,
        ],
        out,
      ),
    );
    const hostDir = path.join(o.hostsDir, registry.host);
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(path.join(hostDir, 'hosts.toml'), hostsToml(registry.host));
    // From inside the namespace, as containerd asks: the registry's API version check.
    await waitFor('the registry from the node’s namespace', 20_000, async () => {
      const probe = await run('bash', [
        '-c',
        `printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n' | ip netns exec ${NODE_NETNS} socat -T5 - TCP:${registry.host}`,
      ]).catch(() => ({ stdout: '' }));
      return /^HTTP\/1\.[01] 200/.test(probe.stdout) ? true : undefined;
    });
  } catch (e) {
    await stop();
    throw new Error(`${String(e)}\n${out.log}`);
  }
  return { stop };
}

export type LaneReleases = Record<'broker' | 'broker-api-slow' | 'broker-never-ready', string>;

/**
 * Pushes the broker image and the two bad releases (scripts/images/registry-push.sh) to the
 * registry; returns each one's reference by digest (127.0.0.1:PORT/ainp/broker@sha256:...).
 */
export async function pushReleases(registry: LaneRegistry): Promise<LaneReleases> {
  const { stdout } = await run('bash', [path.join(ROOT, 'scripts/images/registry-push.sh'), registry.host], {
    maxBuffer: 4 * 1024 * 1024,
    timeout: 900_000,
  });
  const lines = new Map(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.split(' ')[0]!, l.split(' ')]),
  );
  const ref = (name: keyof LaneReleases) => {
    const [, repository, digest] = lines.get(name) ?? [];
    if (!repository || !/^sha256:[0-9a-f]{64}$/.test(digest ?? ''))
      throw new Error(`registry-push.sh printed no ${name} (name repository digest):\n${stdout}`);
    return `${repository}@${digest}`;
  };
  return {
    broker: ref('broker'),
    'broker-api-slow': ref('broker-api-slow'),
    'broker-never-ready': ref('broker-never-ready'),
  };
}
