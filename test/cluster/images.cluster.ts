import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, waitFor as poll, type ControlPlane } from '../../infra/cluster/control-plane.js';
import { mountsUnder } from '../../infra/cluster/node-sweep.js';
import {
  LANE_IMAGES,
  NODE_NAME,
  NODE_TAINT,
  nodePaths,
  type LaneImage,
} from '../../infra/cluster/node-plan.js';
import { compareVersions } from '../../infra/config.js';
import { MIN_K6 } from '../../infra/ops/gate-job.js';
import { processesIn } from '../../scripts/leftovers.js';
import { expectMachineAsBefore, machineBefore, type MachineBefore } from './node-fixture.js';

/**
 * The lane's own images (scripts/node-images.sh, scripts/images/) running on the real node
 * (SPEC 11, v3; issue 32 item 2): PostgreSQL from the operand image (initdb, then postgres), Valkey
 * answering PING, nats-server with JetStream answering /healthz, each started the way its chart
 * (or CloudNativePG) starts it, then the broker built from the project's Dockerfile: `migrate up`
 * as a Job and `serve` turning Ready (its /ready asks all three) through their Services' names.
 * k6 prints its version from the gate's image, and CloudNativePG's manager its own. Then `down`
 * leaves nothing behind. Needs root and scripts/install-deps.sh node; start it under
 * `flock /tmp/ainp-real-node.lock`.
 */
const NS = 'images-lane';
const PASSWORD = 'lane-only-password-not-a-secret';
const ADMIN_TOKEN = 'lane-only-admin-token-0123456789';
let cp: ControlPlane;
let before: MachineBefore;
const times: Record<string, number> = {};

type Obj = Record<string, unknown>;
/** The command's output, or undefined while it fails or prints nothing (for poll). */
const guard = async (f: () => Promise<string>) => (await f().catch(() => '')) || undefined;
const apply = (...objects: Obj[]) =>
  cp.kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
const kubectl = (...args: string[]) => cp.kubectl(['-n', NS, ...args]);
const exec = (pod: string, ...cmd: string[]) => kubectl('exec', pod, '--', ...cmd);
const waitFor = (what: string, condition: string, seconds: number) =>
  kubectl('wait', `--for=${condition}`, what, `--timeout=${seconds}s`);
/** Logs and events of a pod, for the failure message when it does not turn Ready. */
const diagnose = async (pod: string) =>
  [
    await kubectl('describe', 'pod', pod).catch((e: Error) => e.message),
    await kubectl('logs', pod, '--all-containers').catch((e: Error) => e.message),
  ].join('\n');
async function ready(pod: string, seconds = 120) {
  const t = Date.now();
  try {
    await waitFor(`pod/${pod}`, 'condition=Ready', seconds);
  } catch (e) {
    throw new Error(`${pod} did not turn Ready: ${(e as Error).message}\n${await diagnose(pod)}`);
  }
  times[`${pod} Ready`] = (Date.now() - t) / 1000;
}

const restricted = (uid: number) => ({
  runAsNonRoot: true,
  runAsUser: uid,
  runAsGroup: uid,
  fsGroup: uid,
  seccompProfile: { type: 'RuntimeDefault' },
});
const locked = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

/** A pod on the real node (it tolerates the node's taint) from one of the lane's images. */
function pod(name: string, spec: Obj, restartPolicy = 'Always'): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: podSpec(spec, restartPolicy),
  };
}
function podSpec(spec: Obj, restartPolicy: string): Obj {
  return {
    nodeSelector: { 'kubernetes.io/hostname': NODE_NAME },
    tolerations: [{ key: NODE_TAINT.key, operator: 'Exists', effect: NODE_TAINT.effect }],
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 1,
    restartPolicy,
    ...spec,
  };
}
const service = (name: string, port: number): Obj => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: NS },
  spec: { selector: { app: name }, ports: [{ port, targetPort: port }] },
});
const image = (name: LaneImage) => cp.node!.images[name];
/** The image by digest (repository@sha256:...), as the stacks pin the broker and the gate's k6. */
const pinned = (name: LaneImage) => cp.node!.images.pinned[name];

beforeAll(async () => {
  before = machineBefore();
  const t = Date.now();
  cp = await startControlPlane({ node: true, crds: false, pointer: process.env.AINP_CLUSTER_STATE });
  times['control plane, images and real node up'] = (Date.now() - t) / 1000;
  await cp.kubectl(['create', 'namespace', NS]);
});

afterAll(async () => {
  await cp?.stop();
  console.log('images lane timings (s):', JSON.stringify(times));
});

describe('the lane’s images on the real node', () => {
  it('nothing of a node was on the machine before it started', () => {
    expect(before.leftovers).toEqual([]);
  });

  it('every image is in the node’s containerd under the reference node-images.sh printed, and by digest', async () => {
    const listed = execFileSync(
      'ctr',
      ['--address', nodePaths(cp.dir).containerdSock, '--namespace', 'k8s.io', 'images', 'list', '-q'],
      { encoding: 'utf8' },
    ).split('\n');
    for (const name of LANE_IMAGES) {
      expect(listed, name).toContain(image(name));
      expect(listed, name).toContain(cp.node!.images.pinned[name]);
    }
  });

  it('PostgreSQL: initdb then postgres as uid 26 from the operand image, answering pg_isready', async () => {
    const data = '/var/lib/postgresql/data';
    await apply(
      pod('postgres', {
        securityContext: restricted(26),
        containers: [
          {
            name: 'postgres',
            image: image('postgres'),
            imagePullPolicy: 'Never',
            command: [
              'sh',
              '-c',
              [
                'set -e',
                `printf %s "$PGPASSWORD" >/tmp/pw`,
                `initdb -D ${data}/pgdata -U postgres --pwfile=/tmp/pw --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C`,
                `echo "host all all 0.0.0.0/0 scram-sha-256" >>${data}/pgdata/pg_hba.conf`,
                `exec postgres -D ${data}/pgdata -c listen_addresses=* -c unix_socket_directories=/tmp`,
              ].join('\n'),
            ],
            env: [{ name: 'PGPASSWORD', value: PASSWORD }],
            securityContext: locked,
            readinessProbe: {
              exec: { command: ['pg_isready', '-h', '127.0.0.1', '-U', 'postgres'] },
              periodSeconds: 1,
              failureThreshold: 120,
            },
            volumeMounts: [
              { name: 'data', mountPath: data },
              { name: 'tmp', mountPath: '/tmp' },
            ],
          },
        ],
        volumes: [
          { name: 'data', emptyDir: {} },
          { name: 'tmp', emptyDir: {} },
        ],
      }),
      service('postgres', 5432),
    );
    await ready('postgres');
    const version = await exec(
      'postgres',
      'psql',
      '-h',
      '/tmp',
      '-U',
      'postgres',
      '-tAc',
      'show server_version',
    );
    expect(version.trim()).toMatch(/^15\.20 /);
    const tools = await exec(
      'postgres',
      'sh',
      '-c',
      'for t in initdb postgres pg_ctl pg_controldata pg_basebackup pg_rewind pg_archivecleanup; do $t --version; done',
    );
    expect(tools.trim().split('\n')).toHaveLength(7);
    expect(tools).not.toMatch(/not found|error while loading/);
    expect((await exec('postgres', 'id', '-un')).trim()).toBe('postgres');
  });

  it('Valkey: the chart’s init container writes the config, valkey-server reads it, valkey-cli PING answers', async () => {
    // As valkey-0.9.4's templates run it: /scripts/init.sh in an init container (busybox), then
    // `valkey-server /data/conf/valkey.conf`, uid 1000, read-only root, `sh -c "valkey-cli ping"` probes.
    const init = [
      'set -eu',
      'log() { echo "$(date) $1" | tee -a /data/init.log >&2; }',
      'log "Creating configuration in /data/conf..."',
      'mkdir -p /data/conf && rm -f /data/conf/valkey.conf',
      '{ echo "port 6379"; echo "protected-mode no"; echo "bind * -::*"; echo "dir /data"; } >>/data/conf/valkey.conf',
    ].join('\n');
    const probe = {
      exec: { command: ['sh', '-c', 'valkey-cli ping'] },
      periodSeconds: 1,
      failureThreshold: 60,
    };
    const container = { image: image('valkey'), imagePullPolicy: 'Never', securityContext: locked };
    const mounts = [{ name: 'data', mountPath: '/data' }];
    await apply(
      pod('valkey', {
        securityContext: restricted(1000),
        initContainers: [{ name: 'init', ...container, command: ['sh', '-c', init], volumeMounts: mounts }],
        containers: [
          {
            name: 'valkey',
            ...container,
            command: ['valkey-server'],
            args: ['/data/conf/valkey.conf'],
            readinessProbe: probe,
            volumeMounts: mounts,
          },
        ],
        volumes: [{ name: 'data', emptyDir: {} }],
      }),
      service('valkey', 6379),
    );
    await ready('valkey');
    expect((await exec('valkey', 'valkey-cli', 'ping')).trim()).toBe('PONG');
    expect(await exec('valkey', 'valkey-cli', 'info', 'server')).toMatch(/valkey_version:8\.1\.8/);
  });

  it('NATS: nats-server with the chart’s generated config (JetStream on) answers /healthz', async () => {
    // nats-1.3.16 with config.jetstream.enabled (reloader and nats-box off): its nats.conf verbatim.
    const conf = {
      http_port: 8222,
      jetstream: { max_memory_store: 0, store_dir: '/data' },
      lame_duck_duration: '30s',
      lame_duck_grace_period: '10s',
      pid_file: '/var/run/nats/nats.pid',
      port: 4222,
    };
    const natsConf = JSON.stringify(conf, null, 2).replace(/\n}$/, ',\n  "server_name": $SERVER_NAME\n}');
    await apply(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'nats-config', namespace: NS },
        data: { 'nats.conf': natsConf },
      },
      pod('nats', {
        containers: [
          {
            name: 'nats',
            image: image('nats'),
            imagePullPolicy: 'Never',
            args: ['--config', '/etc/nats-config/nats.conf'],
            env: [
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'SERVER_NAME', value: '$(POD_NAME)' },
            ],
            lifecycle: { preStop: { exec: { command: ['nats-server', '-sl=ldm=/var/run/nats/nats.pid'] } } },
            readinessProbe: {
              httpGet: { path: '/healthz?js-server-only=true', port: 8222 },
              periodSeconds: 1,
              failureThreshold: 60,
            },
            volumeMounts: [
              { name: 'config', mountPath: '/etc/nats-config' },
              { name: 'pid', mountPath: '/var/run/nats' },
              { name: 'data', mountPath: '/data' },
            ],
          },
        ],
        volumes: [
          { name: 'config', configMap: { name: 'nats-config' } },
          { name: 'pid', emptyDir: {} },
          { name: 'data', emptyDir: {} },
        ],
      }),
      service('nats', 4222),
    );
    await ready('nats');
    const healthz = await exec(
      'nats',
      'sh',
      '-c',
      'printf "GET /healthz HTTP/1.0\\r\\n\\r\\n" | nc 127.0.0.1 8222',
    );
    expect(healthz).toMatch(/^HTTP\/1\.[01] 200/);
    expect(healthz).toContain('"status":"ok"');
    const jsz = await exec('nats', 'sh', '-c', 'printf "GET /jsz HTTP/1.0\\r\\n\\r\\n" | nc 127.0.0.1 8222');
    expect(jsz).toContain('"store_dir"');
    expect(await exec('nats', 'nats-server', '--version')).toMatch(/v2\.11\.10/);
  });

  it('the broker from the project’s Dockerfile, by digest: `migrate up` completes, then `serve` passes /ready', async () => {
    const env = [
      ['NODE_ENV', 'production'],
      ['LOCAL_SERVICES', 'false'],
      ['DATABASE_URL', `postgres://postgres:${PASSWORD}@postgres:5432/postgres`],
      ['REDIS_URL', 'redis://valkey:6379'],
      ['NATS_URL', 'nats://nats:4222'],
      ['ADMIN_TOKEN', ADMIN_TOKEN],
    ].map(([name, value]) => ({ name, value }));
    const container = {
      image: pinned('broker'),
      imagePullPolicy: 'Never',
      env,
      securityContext: { ...locked, runAsNonRoot: true },
      volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
    };
    const spec = {
      securityContext: restricted(10001),
      volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
    };
    let t = Date.now();
    await apply({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'migrate', namespace: NS },
      spec: {
        backoffLimit: 0,
        template: {
          spec: podSpec(
            { ...spec, containers: [{ name: 'migrate', ...container, args: ['migrate', 'up'] }] },
            'Never',
          ),
        },
      },
    });
    try {
      await waitFor('job/migrate', 'condition=complete', 180);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await kubectl('logs', 'job/migrate').catch(String)}`);
    }
    times['migrate Job complete'] = (Date.now() - t) / 1000;
    const log = await kubectl('logs', 'job/migrate');
    expect(log).toMatch(/migrat/i);
    t = Date.now();
    await apply(
      pod('broker', {
        ...spec,
        containers: [
          {
            name: 'broker',
            ...container,
            ports: [{ containerPort: 8080 }],
            readinessProbe: {
              httpGet: { path: '/ready', port: 8080 },
              periodSeconds: 1,
              failureThreshold: 120,
            },
          },
        ],
      }),
      service('broker', 8080),
    );
    await ready('broker');
    // /ready (PostgreSQL, migrations at head) and /health (every dependency) through the Service
    // from another pod, by the Service's name.
    // nc, not wget (Debian's busybox-static wget segfaults); retried while kube-proxy's rules for
    // the new Service land.
    const get = (route: string) =>
      poll(`the broker Service to answer ${route}`, 60_000, async () =>
        guard(() =>
          exec('nats', 'sh', '-c', `printf 'GET ${route} HTTP/1.0\\r\\n\\r\\n' | nc -w 3 broker 8080`),
        ),
      );
    const readyAnswer = await get('/ready');
    expect(readyAnswer).toMatch(/^HTTP\/1\.[01] 200/);
    expect(readyAnswer).toContain('{"ready":true}');
    const health = JSON.parse((await get('/health')).split('\r\n\r\n')[1]!) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'healthy' });
    console.log('broker /ready:', readyAnswer.split('\r\n\r\n')[1], '/health:', JSON.stringify(health));
  });

  it('k6 from the gate’s image, by digest as the gate pins it, prints a version the gate accepts (>= 0.57), as the gate’s uid', async () => {
    await apply(
      pod(
        'k6',
        {
          securityContext: restricted(12345),
          containers: [
            {
              name: 'k6',
              image: pinned('k6'),
              imagePullPolicy: 'Never',
              command: ['sh', '-c', 'k6 version && echo hi | base64'],
              securityContext: locked,
            },
          ],
        },
        'Never',
      ),
    );
    await waitFor('pod/k6', 'jsonpath={.status.phase}=Succeeded', 120);
    const log = await kubectl('logs', 'k6');
    const version = /k6 v(\d+\.\d+\.\d+)/.exec(log)?.[1];
    expect(version).toBe('1.8.1');
    expect(compareVersions(version!, MIN_K6)).toBeGreaterThanOrEqual(0);
    expect(log).toContain('aGkK');
  });

  it('the CloudNativePG operator image: /manager (the instance manager it copies into pods) runs', async () => {
    await apply(
      pod(
        'cnpg',
        {
          securityContext: restricted(65532),
          containers: [
            {
              name: 'manager',
              image: image('cnpg-operator'),
              imagePullPolicy: 'Never',
              args: ['version'],
              securityContext: locked,
            },
          ],
        },
        'Never',
      ),
    );
    await waitFor('pod/cnpg', 'jsonpath={.status.phase}=Succeeded', 120);
    expect(await kubectl('logs', 'cnpg')).toContain('Version:1.30.0');
  });
});

describe('npm run cluster -- down (cp.stop) after the images ran', () => {
  it('leaves no process, mount or node leftover, and restores the sysctls', async () => {
    const dir = cp.dir;
    const t = Date.now();
    await cp.stop();
    times['down'] = (Date.now() - t) / 1000;
    expect(processesIn(dir)).toEqual([]);
    expect(mountsUnder(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expectMachineAsBefore(before);
  });
});
