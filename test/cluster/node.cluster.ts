import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startControlPlane, waitFor, type ControlPlane } from '../../infra/cluster/control-plane.js';
import { lookup } from '../../infra/cluster/node.js';
import { containerLogLinks, mountsUnder } from '../../infra/cluster/node-sweep.js';
import { API_SNAT_CHAIN } from '../../infra/cluster/node-fence.js';
import {
  BRIDGE,
  CLUSTER_DOMAIN,
  NODE_LINK,
  FENCE_CHAIN,
  HOST_SIDE_IP,
  LINK_CIDR,
  NODE_NETNS,
  NET_SYSCTLS,
  NODE_IP,
  NODE_NAME,
  NODE_TAINT,
  nodePaths,
  POD_CIDR,
  POD_GATEWAY,
  SERVICE_CIDR,
} from '../../infra/cluster/node-plan.js';
import { processesIn } from '../../scripts/leftovers.js';
import { expectMachineAsBefore, machineBefore, type MachineBefore } from './node-fixture.js';

/**
 * The lane's real node (SPEC 11, v3): containerd, runc, the CNI bridge, the kubelet and kube-proxy
 * started by `startControlPlane({ node: true })` beside the kwok nodes. A pod really runs from an
 * image built here, answers its readiness probe, `kubectl exec` and `kubectl port-forward` reach it,
 * and a Service reaches it from another pod through kube-proxy's rules. Isolation is shown by
 * reading routes and iptables, never by sending anything towards another machine. Then `down`
 * leaves nothing behind. Needs root and scripts/install-deps.sh node.
 */
const NS = 'node-lane';
const FIXTURES = path.join(ROOT, 'test/fixtures/iptables');
let cp: ControlPlane;
let before: MachineBefore;
const times: Record<string, number> = {};

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
/** A command in the node's network namespace (its routes, iptables and sysctls). */
const inNode = (cmd: string, args: string[]) => sh('ip', ['netns', 'exec', NODE_NETNS, cmd, ...args]);
const kubectlJson = async <T = any>(...args: string[]): Promise<T> =>
  JSON.parse(await cp.kubectl([...args, '-o', 'json'])) as T;
const exec = (pod: string, ...cmd: string[]) => cp.kubectl(['-n', NS, 'exec', pod, '--', ...cmd]);

/** A pod of the lane's busybox image on the real node (it tolerates the node's taint). */
function pod(name: string, command: string[], probe?: number) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': NODE_NAME },
      tolerations: [{ key: NODE_TAINT.key, operator: 'Exists', effect: NODE_TAINT.effect }],
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name,
          image: cp.node!.images.busybox,
          imagePullPolicy: 'Never',
          command,
          ...(probe
            ? {
                readinessProbe: {
                  httpGet: { path: '/', port: probe },
                  periodSeconds: 1,
                  failureThreshold: 30,
                },
              }
            : {}),
        },
      ],
    },
  };
}

type Pod = {
  status: {
    podIP?: string;
    hostIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { ready: boolean; state: Record<string, unknown> }[];
  };
};
const ready = (p: Pod) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/** HTTPS GET to the kubelet (the node's own address on this machine); resolves with the status. */
function kubeletGet(pathname: string, cert?: { cert: string; key: string }) {
  return new Promise<number>((resolve, reject) => {
    const req = https.get(
      {
        host: NODE_IP,
        port: cp.node!.ports.kubelet,
        path: pathname,
        ca: readFileSync(`${cp.dir}/pki/ca.crt`),
        ...cert,
        timeout: 5000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

beforeAll(async () => {
  before = machineBefore();
  const t = Date.now();
  cp = await startControlPlane({ node: true, crds: false, pointer: process.env.AINP_CLUSTER_STATE });
  times['control plane and real node up'] = (Date.now() - t) / 1000;
  await cp.kubectl(['create', 'namespace', NS]);
});

afterAll(async () => {
  await cp?.stop();
  console.log('node lane timings (s):', JSON.stringify(times));
});

describe('the real node', () => {
  it('nothing of a node was on the machine before it started', () => {
    expect(before.leftovers).toEqual([]);
  });

  it('registers Ready with containerd 1.6.20, kubelet v1.34.4, its InternalIP only, and the lane taint', async () => {
    const n = await kubectlJson('get', 'node', NODE_NAME);
    expect(n.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\.20/);
    expect(n.status.nodeInfo.kubeletVersion).toBe('v1.34.4');
    expect(n.status.addresses.filter((a: { type: string }) => a.type === 'InternalIP')).toEqual([
      { type: 'InternalIP', address: NODE_IP },
    ]);
    expect(n.spec.taints).toEqual(expect.arrayContaining([NODE_TAINT]));
    expect(n.metadata.labels.type).toBe('real');
  });

  it('its kubelet refuses an anonymous client and serves the API server’s client certificate', async () => {
    expect(await kubeletGet('/pods')).toBe(401);
    const crt = (f: string) => readFileSync(`${cp.dir}/pki/apiserver-kubelet-client.${f}`);
    expect(await kubeletGet('/pods', { cert: crt('crt').toString(), key: crt('key').toString() })).toBe(200);
  });

  it('the kubelet’s own identity may not touch another node or list secrets (Node authorizer, NodeRestriction)', async () => {
    const asNode = (...args: string[]) =>
      new Promise<string>((resolve) =>
        execFile(
          path.join(cp.bin, 'kubectl'),
          ['--kubeconfig', nodePaths(cp.dir).kubeletKubeconfig, ...args],
          (err, stdout, stderr) => resolve(err ? `error: ${stderr}` : stdout),
        ),
      );
    expect(await asNode('get', 'node', NODE_NAME, '-o', 'name')).toBe(`node/${NODE_NAME}\n`);
    expect(await asNode('label', 'node', 'kwok-node-0', 'ainp.dev/probe=1')).toMatch(/^error: .*forbidden/s);
    expect(await asNode('get', 'secrets', '-A')).toMatch(/^error: .*forbidden/s);
  });

  it('fences pod traffic: the fence chain first in mangle FORWARD, service addresses in OUTPUT', () => {
    expect(inNode('iptables', ['-t', 'mangle', '-S', 'FORWARD']).split('\n')[1]).toBe(
      `-A FORWARD -j ${FENCE_CHAIN}`,
    );
    const fence = inNode('iptables', ['-t', 'mangle', '-S', FENCE_CHAIN]).trim().split('\n');
    const api = `-p tcp -m tcp --dport ${cp.ports.apiserver}`;
    expect(fence).toEqual([
      `-N ${FENCE_CHAIN}`,
      `-A ${FENCE_CHAIN} -s ${POD_CIDR} -d ${POD_CIDR} -j RETURN`,
      `-A ${FENCE_CHAIN} -s ${POD_CIDR} -d ${HOST_SIDE_IP}/32 ${api} -j RETURN`,
      `-A ${FENCE_CHAIN} -s ${HOST_SIDE_IP}/32 -d ${POD_CIDR} ${api.replace('dport', 'sport')} -j RETURN`,
      `-A ${FENCE_CHAIN} -s ${HOST_SIDE_IP}/32 -d ${POD_CIDR} -j RETURN`,
      `-A ${FENCE_CHAIN} -s ${POD_CIDR} -d ${HOST_SIDE_IP}/32 -m conntrack --ctstate ESTABLISHED -j RETURN`,
      `-A ${FENCE_CHAIN} -s ${POD_CIDR} -j DROP`,
      `-A ${FENCE_CHAIN} -d ${POD_CIDR} -j DROP`,
      `-A ${FENCE_CHAIN} -d ${SERVICE_CIDR} -j DROP`,
    ]);
    expect(inNode('iptables', ['-t', 'filter', '-S', 'OUTPUT'])).toContain(
      `-A OUTPUT -d ${SERVICE_CIDR} -j ${FENCE_CHAIN}`,
    );
    expect(inNode('iptables', ['-t', 'nat', '-S', API_SNAT_CHAIN]).trim().split('\n')).toEqual([
      `-N ${API_SNAT_CHAIN}`,
      `-A ${API_SNAT_CHAIN} -s ${POD_CIDR} -d ${HOST_SIDE_IP}/32 ${api} -j SNAT --to-source ${NODE_IP}`,
    ]);
  });

  it('publishes the socat on the host’s end of the pair as the `kubernetes` Service’s endpoint', async () => {
    const ep = await kubectlJson('-n', 'default', 'get', 'endpoints', 'kubernetes');
    expect(ep.subsets).toEqual([
      {
        addresses: [{ ip: HOST_SIDE_IP }],
        ports: [{ name: 'https', port: cp.ports.apiserver, protocol: 'TCP' }],
      },
    ]);
  });
});

describe('a pod on the real node', () => {
  let web: Pod;

  it('runs from the lane’s image with an address from the bridge and passes its HTTP readiness probe', async () => {
    const t = Date.now();
    await cp.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(pod('web', ['httpd', '-f', '-p', '8080', '-h', '/www'], 8080)),
    );
    web = await waitFor('pod web Ready', 90_000, async () => {
      const p = await kubectlJson<Pod>('-n', NS, 'get', 'pod', 'web');
      return ready(p) ? p : undefined;
    });
    times['first pod Ready'] = (Date.now() - t) / 1000;
    expect(web.status.podIP).toMatch(/^10\.250\.0\.\d+$/);
    expect(web.status.hostIP).toBe(NODE_IP);
    expect(Object.keys(web.status.containerStatuses![0]!.state)).toEqual(['running']);
    expect(web.status.containerStatuses![0]!.ready).toBe(true);
  });

  it('answers kubectl exec, and has routes only to the pod range, the service range and the node', async () => {
    expect(await exec('web', 'cat', '/www/index.html')).toBe('ainp busybox image\n');
    const routes = (await exec('web', 'ip', '-4', 'route')).trim().split('\n');
    // "<destination> [via <gateway>] dev eth0 ...": no default route, nothing but these three.
    const table = routes.map((r) => {
      const w = r.trim().split(/\s+/);
      return [w[0], w[1] === 'via' ? w[2] : 'on-link'];
    });
    expect(table.sort()).toEqual(
      [
        [`${NODE_IP}`, POD_GATEWAY],
        [POD_CIDR, 'on-link'],
        [SERVICE_CIDR, POD_GATEWAY],
      ].sort(),
    );
  });

  it('its namespace routes only to the host’s end of the pair and to the pod range: no default route', () => {
    // Once a pod runs: the CNI bridge (and so the pod range's route) is made for the first pod.
    const routes = inNode('ip', ['-4', 'route']).trim().split('\n');
    expect(routes.map((r) => r.split(' ')[0]).sort()).toEqual([POD_CIDR, LINK_CIDR].sort());
    expect(inNode('ip', ['-6', 'route'])).not.toMatch(/^default/m);
  });

  it('has no IPv6 way out either: link-local and multicast routes only, host forwarding off', async () => {
    const routes = (await exec('web', 'ip', '-6', 'route')).trim().split('\n').filter(Boolean);
    expect(routes.length).toBeGreaterThan(0);
    for (const r of routes)
      expect([r, /^(fe80::|ff00::|multicast ff00::|local )/.test(r.trim())]).toEqual([r, true]);
    expect(readFileSync('/proc/sys/net/ipv6/conf/all/forwarding', 'utf8').trim()).toBe('0');
  });

  it('answers kubectl port-forward on loopback', async () => {
    const pf = spawn(path.join(cp.bin, 'kubectl'), [
      '--kubeconfig',
      cp.kubeconfig,
      '-n',
      NS,
      'port-forward',
      'pod/web',
      ':8080',
    ]);
    try {
      let out = '';
      pf.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const port = await waitFor(
        'port-forward to listen',
        30_000,
        async () => out.match(/127\.0\.0\.1:(\d+)/)?.[1],
      );
      const res = await fetch(`http://127.0.0.1:${port}/index.html`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('ainp busybox image\n');
    } finally {
      pf.kill();
    }
  });

  it('is reached through a Service (kube-proxy’s rules) from another pod', async () => {
    await cp.kubectl(['apply', '-f', '-'], JSON.stringify(pod('client', ['sleep', '600'])));
    await cp.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'web', namespace: NS },
        spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
      }),
    );
    const svc = await kubectlJson('-n', NS, 'get', 'service', 'web');
    expect(svc.spec.clusterIP).toMatch(/^10\.96\./);
    await waitFor('pod client Ready', 60_000, async () =>
      ready(await kubectlJson<Pod>('-n', NS, 'get', 'pod', 'client')) ? true : undefined,
    );
    // nc, not wget: Debian's busybox-static wget segfaults (exit 139), on the host as well.
    const get = `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${svc.spec.clusterIP} 80`;
    const response = await waitFor(
      'the Service to answer from pod client',
      60_000,
      async () => (await exec('client', 'sh', '-c', get)) || undefined,
    );
    expect(response).toMatch(/^HTTP\/1\.[01] 200 OK\r\n/);
    const body = response.split('\r\n\r\n')[1];
    expect(body).toBe('ainp busybox image\n');
    expect(inNode('iptables-save', ['-t', 'nat'])).toContain(
      `-d ${svc.spec.clusterIP}/32 -p tcp -m comment --comment "${NS}/web cluster IP" -m tcp --dport 80 -j KUBE-SVC-`,
    );
  });

  it('reaches the API server through https://kubernetes.default.svc with its service-account token and the cluster CA', async () => {
    // Allowed to list pods in its namespace and nothing else; kubectl (static) from the tools folder.
    await cp.kubectl(['-n', NS, 'create', 'role', 'pod-reader', '--verb=list', '--resource=pods']);
    await cp.kubectl(
      ['-n', NS, 'create', 'rolebinding', 'pod-reader', '--role=pod-reader'].concat([
        `--serviceaccount=${NS}:default`,
      ]),
    );
    const spec = pod('api-client', ['sleep', '600']);
    Object.assign(spec.spec, {
      automountServiceAccountToken: true,
      volumes: [{ name: 'tools', hostPath: { path: cp.bin, type: 'Directory' } }],
    });
    Object.assign(spec.spec.containers[0]!, {
      volumeMounts: [{ name: 'tools', mountPath: '/tools', readOnly: true }],
    });
    await cp.kubectl(['apply', '-f', '-'], JSON.stringify(spec));
    await waitFor('pod api-client Ready', 60_000, async () =>
      ready(await kubectlJson<Pod>('-n', NS, 'get', 'pod', 'api-client')) ? true : undefined,
    );
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    const kubectlInPod = (args: string) =>
      exec(
        'api-client',
        'sh',
        '-c',
        `/tools/kubectl --server=https://kubernetes.default.svc --certificate-authority=${sa}/ca.crt ` +
          `--token="$(cat ${sa}/token)" ${args} 2>&1; echo "exit $?"`,
      );
    const listed = await kubectlInPod(`-n ${NS} get pods -o name`);
    expect(listed).toContain('pod/api-client\n');
    expect(listed).toContain('pod/web\n');
    expect(listed.trim().endsWith('exit 0')).toBe(true);
    // Its token is what the API server saw: RBAC refuses what the Role does not grant.
    expect(await kubectlInPod('get secrets -n default')).toMatch(
      new RegExp(
        `system:serviceaccount:${NS}:default.*forbidden|forbidden.*system:serviceaccount:${NS}:default`,
        's',
      ),
    );
  });

  it('is reached from the host through the node (the API server calls webhooks so): the service range routes to the node', async () => {
    expect(sh('ip', ['-4', 'route', 'show', SERVICE_CIDR]).trim()).toBe(
      `${SERVICE_CIDR} via ${NODE_IP} dev ${NODE_LINK}`,
    );
    const svc = await kubectlJson('-n', NS, 'get', 'service', 'web');
    const res = await fetch(`http://${svc.spec.clusterIP}/index.html`, { signal: AbortSignal.timeout(5000) });
    expect(await res.text()).toBe('ainp busybox image\n');
  });

  it('resolves the Service’s name through CoreDNS on the node, and refuses names outside the cluster', async () => {
    const svc = await kubectlJson('-n', NS, 'get', 'service', 'web');
    const out = await exec('client', 'nslookup', `web.${NS}.svc.${CLUSTER_DOMAIN}`);
    expect(out).toContain(`Address: ${svc.spec.clusterIP}`);
    expect(await exec('client', 'cat', '/etc/resolv.conf')).toContain(`nameserver ${NODE_IP}`);
    // Asked of CoreDNS on the node's address only: with no forwarder it has no answer to give.
    expect(await lookup(`web.${NS}.svc.${CLUSTER_DOMAIN}`)).toBe(svc.spec.clusterIP);
    await expect(lookup('example.com')).rejects.toMatchObject({
      code: expect.stringMatching(/REFUSED|SERVFAIL|NOTFOUND/),
    });
  });

  it('forwards inside the node’s namespace only: the host’s forwarding and iptables are untouched', () => {
    expect(inNode('cat', ['/proc/sys/net/ipv4/ip_forward']).trim()).toBe('1');
    for (const f of NET_SYSCTLS) expect([f, readFileSync(f, 'utf8').trim()]).toEqual([f, before.sysctls[f]]);
    expect(sh('iptables-save', [])).not.toMatch(/^:(KUBE|AINP)-/m);
    // The kubelet does set kernel sysctls no namespace holds (down puts them back: last test).
    expect(readFileSync('/proc/sys/kernel/panic', 'utf8').trim()).toBe('10');
    // What the kubelet, kube-proxy and the fence put in iptables, for iptablesCleanup's unit test.
    if (process.env.RECORD_FIXTURES) {
      mkdirSync(FIXTURES, { recursive: true });
      const counters = /\[\d+:\d+\]/g; // packet counts and dates change every run
      const save = inNode('iptables-save', [])
        .replace(counters, '[0:0]')
        .replace(/^# .*\n/gm, '');
      writeFileSync(path.join(FIXTURES, 'node-up.iptables-save'), save);
    }
  });
});

describe('npm run cluster -- down (cp.stop) after the real node', () => {
  it('leaves no process, mount, link, namespace, iptables chain or cgroup, and restores the sysctls', async () => {
    const dir = cp.dir;
    const t = Date.now();
    await cp.stop();
    times['down'] = (Date.now() - t) / 1000;
    expect(processesIn(dir)).toEqual([]);
    expect(mountsUnder(dir)).toEqual([]);
    expect(containerLogLinks(dir)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(nodePaths(dir).root)).toBe(false);
    expect(
      readdirSync('/sys/class/net').filter((l) => l === BRIDGE || l === NODE_LINK || l.startsWith('ainp-')),
    ).toEqual([]);
    expectMachineAsBefore(before);
  });
});
