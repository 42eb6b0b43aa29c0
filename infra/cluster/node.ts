/**
 * The lane's real node (node-plan.ts says what and why): containerd, the kubelet and kube-proxy
 * started by hand against the loopback control plane, with the lane's own images imported, and
 * everything they leave behind removed again by node-sweep.ts.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { alive, logTail, openssl, ROOT, startProcess, waitFor } from './control-plane.js';
import { fenceRules } from './node-fence.js';
import {
  CLUSTER_DOMAIN,
  COREDNS_USER,
  corefile,
  certKubeconfig,
  cniConflist,
  containerdConfig,
  HOST_SIDE_IP,
  NODE_LINK,
  NODE_LINK_PEER,
  NODE_NETNS,
  nodeServer,
  HOST_PATHS,
  kubeletConfig,
  kubeProxyConfig,
  NODE_IP,
  NODE_NAME,
  nodePaths,
  nodeProcessSpecs,
  SERVICE_CIDR,
  SYSCTLS,
  LANE_IMAGES,
  type Images,
  type LaneImage,
  type NodePorts,
} from './node-plan.js';

const run = promisify(execFile);

/** The lane images' references, their archives and their references by digest (`pinned`). */
export type NodeImages = Images & { archives: string[]; pinned: Images };

/** What `down` needs to undo the node: its processes, the sysctls it found, its images. */
export type NodeState = {
  processes: { name: string; pid: number }[];
  sysctls: Record<string, string>;
  /** The HOST_PATHS that did not exist before the node started: down removes them. */
  madePaths: string[];
  images: NodeImages;
  ports: NodePorts;
};

const sh = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

/** The lane's images (scripts/node-images.sh builds them once per machine, into the tools cache). */
export function buildImages(): NodeImages {
  const lines = sh('bash', [path.join(ROOT, 'scripts/node-images.sh')])
    .trim()
    .split('\n');
  return parseImageLines(lines);
}

/**
 * node-images.sh's lines (`name ref archive digest`), every lane image among them: each one's
 * reference (repository:tag), its archive, and the reference by digest (repository@sha256:...) that
 * the node tags it with too, for the pods and stacks that pin images by digest.
 */
export function parseImageLines(lines: string[]): NodeImages {
  const byName = new Map(lines.map((l) => l.trim().split(/\s+/)).map((w) => [w[0], w]));
  const words = (n: LaneImage) => {
    const w = byName.get(n);
    if (!w || w.length < 4 || !/^sha256:[0-9a-f]{64}$/.test(w[3]!))
      throw new Error(`scripts/node-images.sh printed no image ${n} (name ref archive digest)`);
    return w as [string, string, string, string];
  };
  const map = (f: (w: [string, string, string, string]) => string) =>
    Object.fromEntries(LANE_IMAGES.map((n) => [n, f(words(n))])) as Images;
  return {
    ...map((w) => w[1]),
    archives: LANE_IMAGES.map((n) => words(n)[2]),
    pinned: map(([, ref, , digest]) => `${ref.replace(/:[^:/]+$/, '')}@${digest}`),
  };
}

/** Certificates from the lane's CA: the kubelet's serving and client ones, kube-proxy's client one. */
function makeNodeKeys(dir: string) {
  const p = nodePaths(dir);
  const ca = ['-CA', `${dir}/pki/ca.crt`, '-CAkey', `${dir}/pki/ca.key`, '-days', '7'];
  const cert = (crt: string, key: string, subj: string, extra: string[] = []) =>
    openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      crt,
      '-subj',
      subj,
      ...ca,
      ...extra,
    ]);
  cert(p.kubeletCert, p.kubeletKey, `/O=system:nodes/CN=system:node:${NODE_NAME}`, [
    '-addext',
    `subjectAltName=IP:${NODE_IP},DNS:${NODE_NAME}`,
  ]);
  cert(p.kubeletClientCert, p.kubeletClientKey, `/O=system:nodes/CN=system:node:${NODE_NAME}`);
  // The default ClusterRoleBinding system:node-proxier grants this user what kube-proxy reads.
  cert(p.proxyCert, p.proxyKey, '/CN=system:kube-proxy');
  cert(p.corednsCert, p.corednsKey, `/CN=${COREDNS_USER}`);
}

/** What CoreDNS's kubernetes plugin watches (the rules of upstream's system:coredns role). */
function corednsRbac() {
  const name = 'ainp:coredns';
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name },
        rules: [
          {
            apiGroups: [''],
            resources: ['endpoints', 'services', 'pods', 'namespaces'],
            verbs: ['list', 'watch'],
          },
          { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: COREDNS_USER }],
      },
    ],
  };
}

/** The A record CoreDNS on the node's address gives for `name` (the only server asked). */
export async function lookup(name: string): Promise<string | undefined> {
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([NODE_IP]);
  const [first] = await resolver.resolve4(name);
  return first;
}

const readSysctls = () =>
  Object.fromEntries(SYSCTLS.filter(existsSync).map((f) => [f, readFileSync(f, 'utf8').trim()]));

/**
 * Starts the node in its network namespace against the control plane (API server on 127.0.0.1 at
 * `apiserverPort`) and waits until it is Ready, kube-proxy answers its health check and CoreDNS
 * answers for the cluster domain. `save` is called whenever `node` changes, so a `down` from another
 * process can always undo what was done so far.
 */
export async function startNode(o: {
  dir: string;
  bin: string;
  apiserverPort: number;
  ports: NodePorts;
  kubectl: (args: string[], input?: string) => Promise<string>;
  save: (node: NodeState) => void;
}): Promise<NodeState> {
  for (const tool of ['kubelet', 'kube-proxy', 'coredns'])
    if (!existsSync(path.join(o.bin, tool)))
      throw new Error(`${tool} is not built: run scripts/tools.sh cluster (looked in ${o.bin})`);
  for (const tool of [
    'containerd',
    'ctr',
    'runc',
    'buildah',
    'iptables-save',
    'conntrack',
    'socat',
    'nsenter',
  ])
    if (!commandExists(tool)) throw new Error(`${tool} is missing: run scripts/install-deps.sh node`);
  if (existsSync(`/sys/class/net/${NODE_LINK}`) || existsSync(`/run/netns/${NODE_NETNS}`))
    throw new Error(
      `${NODE_LINK} or netns ${NODE_NETNS} exists: another lane's real node is up on this machine (npm run cluster -- down)`,
    );
  const p = nodePaths(o.dir);
  const images = buildImages();
  const node: NodeState = {
    processes: [],
    sysctls: readSysctls(),
    madePaths: HOST_PATHS.filter((f) => !existsSync(f)),
    images,
    ports: o.ports,
  };
  o.save(node);
  for (const d of [p.cniConfDir, p.cniIpam, p.kubeletRoot, p.podLogs, p.volumePlugins])
    mkdirSync(d, { recursive: true });
  makeNodeKeys(o.dir);
  const ca = `${o.dir}/pki/ca.crt`;
  const server = nodeServer(o.apiserverPort);
  writeFileSync(p.containerdConfig, containerdConfig(o.dir, images));
  writeFileSync(`${p.cniConfDir}/10-ainp.conflist`, JSON.stringify(cniConflist(o.dir), null, 2));
  writeFileSync(p.kubeletConfig, JSON.stringify(kubeletConfig(o.dir, o.ports), null, 2));
  writeFileSync(p.proxyConfig, JSON.stringify(kubeProxyConfig(o.dir, o.ports), null, 2));
  const user = `system:node:${NODE_NAME}`;
  writeFileSync(
    p.kubeletKubeconfig,
    certKubeconfig(server, ca, p.kubeletClientCert, p.kubeletClientKey, user),
  );
  writeFileSync(p.proxyKubeconfig, certKubeconfig(server, ca, p.proxyCert, p.proxyKey, 'system:kube-proxy'));
  writeFileSync(p.corednsKubeconfig, certKubeconfig(server, ca, p.corednsCert, p.corednsKey, COREDNS_USER));
  writeFileSync(p.corefile, corefile(o.dir));
  // For the kubelet itself and dnsPolicy Default: no name server, so nothing asks the host's.
  // Pods (ClusterFirst) get CoreDNS on the node's address (clusterDNS).
  writeFileSync(p.resolvConf, '# the lane node has no upstream name server\noptions ndots:1\n');

  // The namespace and its one link: a /30 to the host, no default route.
  const inNs = (cmd: string, args: string[]) => sh('ip', ['netns', 'exec', NODE_NETNS, cmd, ...args]);
  sh('ip', ['netns', 'add', NODE_NETNS]);
  sh('ip', ['link', 'add', NODE_LINK, 'type', 'veth', 'peer', 'name', NODE_LINK_PEER]);
  sh('ip', ['link', 'set', NODE_LINK_PEER, 'netns', NODE_NETNS]);
  sh('ip', ['addr', 'add', `${HOST_SIDE_IP}/30`, 'dev', NODE_LINK]);
  sh('ip', ['link', 'set', NODE_LINK, 'up']);
  // The API server (on the host) dials admission webhooks at their Service's address: through the
  // node, never the host's default route. Gone with the link when down() deletes it.
  sh('ip', ['route', 'add', SERVICE_CIDR, 'via', NODE_IP, 'dev', NODE_LINK]);
  inNs('ip', ['addr', 'add', `${NODE_IP}/30`, 'dev', NODE_LINK_PEER]);
  inNs('ip', ['link', 'set', NODE_LINK_PEER, 'up']);
  inNs('ip', ['link', 'set', 'lo', 'up']);
  for (const rule of fenceRules(o.apiserverPort)) inNs('iptables', rule);

  const [apiProxy, containerd, kubelet, proxy, coredns] = nodeProcessSpecs(
    o.dir,
    o.bin,
    o.ports,
    o.apiserverPort,
  );
  const start = (spec: typeof containerd) => {
    node.processes.push({ name: spec!.name, pid: startProcess(o.dir, spec!) });
    o.save(node);
  };
  const guard = async <T>(check: () => Promise<T | undefined>) => {
    const dead = node.processes.find((x) => !alive(x.pid));
    if (dead) throw new Error(`${dead.name} exited:\n${logTail(o.dir, dead.name)}`);
    return check();
  };
  const ctr = (args: string[]) =>
    run('ctr', ['--address', p.containerdSock, '--namespace', 'k8s.io', ...args]);

  start(apiProxy);
  await waitFor('the API server through socat', 15_000, () =>
    guard(async () =>
      (await o.kubectl(['--server', server, 'get', '--raw', '/readyz'])) === 'ok' ? true : undefined,
    ),
  );
  start(containerd);
  await waitFor('containerd', 30_000, () =>
    guard(async () => ((await ctr(['version'])).stdout ? true : undefined)),
  );
  for (const archive of images.archives) await ctr(['images', 'import', archive]);
  for (const n of LANE_IMAGES) await ctr(['images', 'tag', '--force', images[n], images.pinned[n]]);
  start(kubelet);
  await waitFor(`node ${NODE_NAME} Ready`, 120_000, () =>
    guard(async () => {
      const n = JSON.parse(await o.kubectl(['get', 'node', NODE_NAME, '-o', 'json'])) as {
        status?: { conditions?: { type: string; status: string }[] };
      };
      return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    }),
  );
  start(proxy);
  await waitFor('kube-proxy /healthz', 60_000, () =>
    guard(async () => {
      const res = await fetch(`http://${NODE_IP}:${o.ports.proxyHealthz}/healthz`);
      return res.ok ? true : undefined;
    }),
  );
  await o.kubectl(['apply', '-f', '-'], JSON.stringify(corednsRbac()));
  start(coredns);
  // Ready once it answers for the API server's own Service (a query to the node's address).
  await waitFor('CoreDNS', 60_000, () =>
    guard(async () => {
      const answer = await lookup(`kubernetes.default.svc.${CLUSTER_DOMAIN}`);
      return answer === '10.96.0.1' ? true : undefined;
    }),
  );
  return node;
}

function commandExists(cmd: string) {
  return (process.env.PATH ?? '/usr/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((d) => existsSync(path.join(d, cmd)));
}
