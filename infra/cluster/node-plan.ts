/**
 * The lane's real node as data: containerd's config, the CNI conflist, the kubelet's,
 * kube-proxy's and CoreDNS's configs and flags (the iptables fence and clean-up: node-fence.ts).
 * Pure (no files, no processes), so what keeps pod traffic on this machine is tested without
 * starting anything; node.ts carries it out.
 *
 * The node lives in a network namespace of the lane's (NODE_NETNS): containerd, the kubelet,
 * kube-proxy, CoreDNS, the CNI bridge and every pod are in it or below it, and its only link is a
 * veth pair to the host on a /30 (NODE_IP inside, HOST_SIDE_IP outside). Its routing table has
 * that /30 and the pod range and nothing else: no default route, so nothing the node or a pod
 * sends has a way off the machine, and the host's forwarding, iptables and sysctls are not
 * touched (the CNI bridge and kube-proxy change the namespace's own). The API server stays on
 * 127.0.0.1; a socat on the host's side of the pair (HOST_SIDE_IP) carries the node's connections
 * to it, and it reaches the kubelet on NODE_IP through the pair. Inside the namespace a fence
 * (node-fence.ts) also drops whatever is forwarded from or to the pod range unless both ends are in
 * it: with no route out it should never match, and if a route ever appeared it would still hold.
 * down() deletes the namespace, the pair and everything else (node-sweep.ts).
 */
import type { ProcessSpec } from './plan.js';

export const NODE_NAME = 'ainp-node';
export const NODE_NETNS = 'ainp-node';
/** The node's InternalIP, on NODE_LINK_PEER inside NODE_NETNS; the host's end is HOST_SIDE_IP. */
export const NODE_IP = '10.250.255.1';
export const HOST_SIDE_IP = '10.250.255.2';
export const LINK_CIDR = '10.250.255.0/30';
export const POD_CIDR = '10.250.0.0/24';
export const POD_GATEWAY = '10.250.0.1';
export const SERVICE_CIDR = '10.96.0.0/16';
/** The `kubernetes` Service's cluster IP: the first of SERVICE_CIDR. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const BRIDGE = 'ainp-br0';
/** The veth pair: NODE_LINK stays on the host, NODE_LINK_PEER moves into NODE_NETNS. */
export const NODE_LINK = 'ainp-node0';
export const NODE_LINK_PEER = 'ainp-node1';
export const FENCE_CHAIN = 'AINP-NODE-FENCE';
export const CLUSTER_DOMAIN = 'cluster.local';
/** Only pods that tolerate it run on the real node: the kwok lane's Deployments stay on kwok. */
export const NODE_TAINT = { key: 'ainp.dev/real-node', value: 'true', effect: 'NoSchedule' } as const;
export const NODE_LABEL = { key: 'type', value: 'real' } as const;
/**
 * Host network sysctls a node in the host's namespace would change (ip_forward by the CNI bridge).
 * In its own namespace it changes that namespace's copies only; the lane test checks these never
 * move, and down() writes them back all the same.
 */
export const NET_SYSCTLS = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/bridge/bridge-nf-call-iptables'];
/**
 * Kernel sysctls the kubelet sets at start (no namespace holds them): overcommit on, panic on
 * oops, reboot 10 s after a panic, larger key quotas. Read before, written back by down().
 */
export const KERNEL_SYSCTLS = [
  '/proc/sys/vm/overcommit_memory',
  '/proc/sys/vm/panic_on_oom',
  '/proc/sys/kernel/panic',
  '/proc/sys/kernel/panic_on_oops',
  '/proc/sys/kernel/keys/root_maxkeys',
  '/proc/sys/kernel/keys/root_maxbytes',
];
export const SYSCTLS = [...NET_SYSCTLS, ...KERNEL_SYSCTLS];

/**
 * Folders outside the lane's own that containerd 1.6, its CNI library and the kubelet create at
 * fixed paths whatever they are configured with (shim sockets, the CNI result cache, the kubelet's
 * device-plugin socket and container log links). The ones missing before `up` are removed by `down`.
 */
export const HOST_PATHS = [
  '/run/containerd',
  '/var/lib/cni',
  '/var/lib/kubelet',
  '/var/log/containers',
  '/run/netns',
];

export type NodePorts = {
  kubelet: number;
  kubeletHealthz: number;
  proxyHealthz: number;
  proxyMetrics: number;
};
/** The images scripts/node-images.sh builds (scripts/images/<name>.sh), each imported into the node. */
export const LANE_IMAGES = [
  'pause',
  'busybox',
  'valkey',
  'nats',
  'postgres',
  'broker',
  'k6',
  'cnpg-operator',
] as const;
export type LaneImage = (typeof LANE_IMAGES)[number];
/** Each lane image's reference (localhost/ainp/<name>:<input hash>), as pods name it. */
export type Images = Record<LaneImage, string>;

export const nodePaths = (dir: string) => ({
  root: `${dir}/node`,
  containerdConfig: `${dir}/node/containerd.toml`,
  containerdRoot: `${dir}/node/containerd/root`,
  containerdState: `${dir}/node/containerd/state`,
  containerdSock: `${dir}/node/containerd/containerd.sock`,
  /** containerd's registry hosts (`<host:port>/hosts.toml`): empty unless a lane test adds one. */
  registryHosts: `${dir}/node/containerd/certs.d`,
  cniConfDir: `${dir}/node/cni/net.d`,
  cniIpam: `${dir}/node/cni/ipam`,
  kubeletRoot: `${dir}/node/kubelet`,
  kubeletConfig: `${dir}/node/kubelet.yaml`,
  kubeletKubeconfig: `${dir}/node/kubelet.kubeconfig`,
  proxyConfig: `${dir}/node/kube-proxy.yaml`,
  proxyKubeconfig: `${dir}/node/kube-proxy.kubeconfig`,
  corefile: `${dir}/node/Corefile`,
  corednsKubeconfig: `${dir}/node/coredns.kubeconfig`,
  resolvConf: `${dir}/node/resolv.conf`,
  podLogs: `${dir}/node/pod-logs`,
  volumePlugins: `${dir}/node/volume-plugins`,
  sysctls: `${dir}/node/sysctls.json`,
  kubeletCert: `${dir}/pki/kubelet.crt`,
  kubeletKey: `${dir}/pki/kubelet.key`,
  kubeletClientCert: `${dir}/pki/kubelet-client.crt`,
  kubeletClientKey: `${dir}/pki/kubelet-client.key`,
  proxyCert: `${dir}/pki/kube-proxy.crt`,
  proxyKey: `${dir}/pki/kube-proxy.key`,
  corednsCert: `${dir}/pki/coredns.crt`,
  corednsKey: `${dir}/pki/coredns.key`,
});

/** containerd 1.6 (config version 2): everything under the lane's folder, its own socket. */
export function containerdConfig(dir: string, images: Images): string {
  const p = nodePaths(dir);
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = "${p.containerdRoot}"`,
    `state = "${p.containerdState}"`,
    // Snapshotters this machine cannot use would only log errors at every start.
    'disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
    '[grpc]',
    `  address = "${p.containerdSock}"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${p.root}/containerd/opt"`,
    `[${cri}]`,
    `  sandbox_image = "${images.pause}"`,
    // This machine refuses a negative oom_score_adj even to root, and the kubelet asks -998 for
    // every sandbox: without this runc fails with "can't get final child's PID from pipe: EOF".
    '  restrict_oom_score_adj = true',
    // Pod network namespaces under the lane's folder, not /var/run/netns.
    '  netns_mounts_under_state_dir = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    `  Root = "${p.root}/runc"`,
    // Registries as `<host:port>/hosts.toml` files in the lane's folder, read at each pull (a lane
    // test adds its loopback registry there); none by default, and the node has no route out.
    `[${cri}.registry]`,
    `  config_path = "${p.registryHosts}"`,
    `[${cri}.cni]`,
    '  bin_dir = "/usr/lib/cni"',
    `  conf_dir = "${p.cniConfDir}"`,
    '  max_conf_num = 1',
    '',
  ].join('\n');
}

/**
 * A bridge with host-local addresses. No default route in the pods: only the pod range (on the
 * bridge), the service range and the node's address go through the gateway. ipMasq off: nothing is
 * NATed towards the outside because nothing may go there.
 */
export function cniConflist(dir: string) {
  return {
    cniVersion: '1.0.0',
    name: 'ainp-node',
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        isDefaultGateway: false,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: nodePaths(dir).cniIpam,
          ranges: [[{ subnet: POD_CIDR, gateway: POD_GATEWAY }]],
          routes: [{ dst: SERVICE_CIDR }, { dst: `${NODE_IP}/32` }],
        },
      },
    ],
  };
}

const caPath = (dir: string) => `${dir}/pki/ca.crt`;

/** A kubeconfig (JSON) for a client certificate of the lane's CA. */
export function certKubeconfig(server: string, caFile: string, cert: string, key: string, user: string) {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'ainp-local', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: user, user: { 'client-certificate': cert, 'client-key': key } }],
    contexts: [{ name: 'ainp-local', context: { cluster: 'ainp-local', user } }],
    'current-context': 'ainp-local',
  });
}

/**
 * The kubelet: serving certificate from the lane's CA for the node's address, no anonymous access,
 * every request authorized by the API server (webhook), cgroupfs (no systemd here), no swap check
 * (there is none to fail on, but the check reads files this microVM may lack). Eviction and image
 * GC thresholds are set so a full shared disk does not evict the lane's pods or delete its images,
 * which no registry could bring back.
 */
export function kubeletConfig(dir: string, ports: NodePorts) {
  const p = nodePaths(dir);
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NODE_IP,
    port: ports.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: ports.kubeletHealthz,
    tlsCertFile: p.kubeletCert,
    tlsPrivateKeyFile: p.kubeletKey,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: caPath(dir) },
    },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'cgroupfs',
    failSwapOn: false,
    failCgroupV1: false,
    containerRuntimeEndpoint: `unix://${p.containerdSock}`,
    registerWithTaints: [NODE_TAINT],
    resolvConf: p.resolvConf,
    clusterDNS: [NODE_IP],
    clusterDomain: CLUSTER_DOMAIN,
    podLogsDir: p.podLogs,
    volumePluginDir: p.volumePlugins,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    maxPods: 20,
    serializeImagePulls: false,
  };
}

/** kube-proxy in iptables mode, node ports on the node's address only, conntrack sysctls untouched. */
export function kubeProxyConfig(dir: string, ports: NodePorts) {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: nodePaths(dir).proxyKubeconfig },
    hostnameOverride: NODE_NAME,
    mode: 'iptables',
    clusterCIDR: POD_CIDR,
    detectLocalMode: 'ClusterCIDR',
    // On the node's address: the lane checks it from the host, through the veth pair.
    healthzBindAddress: `${NODE_IP}:${ports.proxyHealthz}`,
    metricsBindAddress: `127.0.0.1:${ports.proxyMetrics}`,
    nodePortAddresses: [`${NODE_IP}/32`],
    // Off: localhost node ports need route_localnet=1, one more sysctl to change and restore.
    iptables: { localhostNodePorts: false, masqueradeAll: false },
    // 0 leaves the machine's conntrack sysctls as they are.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  };
}

/** The user CoreDNS's client certificate names; node.ts grants it read access to what it serves. */
export const COREDNS_USER = 'ainp:coredns';

/**
 * CoreDNS on the host, on the node's address (the pods' only name server, clusterDNS above): the
 * cluster domain and reverse lookups from the API server, and no forwarder, so a name outside the
 * cluster is refused here instead of being asked of a server elsewhere.
 */
export function corefile(dir: string): string {
  const p = nodePaths(dir);
  return [
    `${CLUSTER_DOMAIN}:53 in-addr.arpa:53 {`,
    `  bind ${NODE_IP}`,
    '  errors',
    `  kubernetes ${CLUSTER_DOMAIN} in-addr.arpa {`,
    `    kubeconfig ${p.corednsKubeconfig} ainp-local`,
    '    pods disabled',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Runs a command inside the node's network namespace only (mounts, PIDs and cgroups stay the host's). */
export function inNode(spec: ProcessSpec): ProcessSpec {
  return {
    name: spec.name,
    command: 'nsenter',
    args: [`--net=/run/netns/${NODE_NETNS}`, '--', spec.command, ...spec.args],
  };
}

/**
 * The URL the node's components reach the API server at: socat on the host's side of the pair, on
 * the API server's own port (the API server listens on 127.0.0.1 only, so the two never clash).
 * It is also the API server's advertised address (plan.ts, `--advertise-address`), so the
 * `kubernetes` Service's endpoint is this socat and pods reach the API server through it.
 */
export const nodeServer = (apiserverPort: number) => `https://${HOST_SIDE_IP}:${apiserverPort}`;

/**
 * socat on the host (the API server's way in for the node), then in the node's namespace
 * containerd, the kubelet (which needs its socket), kube-proxy and CoreDNS.
 */
export function nodeProcessSpecs(
  dir: string,
  bin: string,
  ports: NodePorts,
  apiserverPort: number,
): ProcessSpec[] {
  const p = nodePaths(dir);
  return [
    {
      name: 'api-proxy',
      command: 'socat',
      args: [
        `TCP-LISTEN:${apiserverPort},bind=${HOST_SIDE_IP},fork,reuseaddr`,
        `TCP:127.0.0.1:${apiserverPort}`,
      ],
    },
    inNode({
      name: 'containerd',
      command: 'containerd',
      args: ['--config', p.containerdConfig, '--log-level', 'warn'],
    }),
    inNode({
      name: 'kubelet',
      command: `${bin}/kubelet`,
      args: [
        `--config=${p.kubeletConfig}`,
        `--kubeconfig=${p.kubeletKubeconfig}`,
        `--root-dir=${p.kubeletRoot}`,
        `--hostname-override=${NODE_NAME}`,
        `--node-ip=${NODE_IP}`,
        `--node-labels=${NODE_LABEL.key}=${NODE_LABEL.value}`,
        '--v=1',
      ],
    }),
    inNode({
      name: 'kube-proxy',
      command: `${bin}/kube-proxy`,
      args: [`--config=${p.proxyConfig}`, '--v=1'],
    }),
    inNode({ name: 'coredns', command: `${bin}/coredns`, args: ['-conf', p.corefile, '-dns.port', '53'] }),
  ];
}
