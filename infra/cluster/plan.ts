/**
 * The loopback control plane as data: which processes run with which flags, the token file, the
 * kubeconfig and the fake nodes. Pure (no files, no processes), so the flags that matter are
 * tested without starting anything; control-plane.ts carries the plan out.
 */

export type Ports = {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
};

/** Where everything lives: `dir` is the cluster's temporary folder, `bin` holds the built tools. */
export type Layout = { dir: string; bin: string };

export type ProcessSpec = { name: string; command: string; args: string[] };

/** One identity with full rights (system:masters): kubectl, Pulumi, the ops tools and the components. */
export const ADMIN_USER = 'ainp-local-admin';
/** kwok turns a Node with this annotation into a fake node (and leaves every other Node alone). */
export const KWOK_ANNOTATION = { key: 'kwok.x-k8s.io/node', value: 'fake' };
export const ZONES = ['zone-a', 'zone-b'] as const;
/**
 * kwok renews each fake node's Lease at this period from the start. Without leases the node
 * lifecycle controller marks the nodes NotReady after about 40 s and sets every pod's Ready
 * condition to False, which kwok does not undo.
 */
export const NODE_LEASE_SECONDS = 40;
const SERVICE_CIDR = '10.96.0.0/16';

export const paths = (dir: string) => ({
  kubeconfig: `${dir}/kubeconfig`,
  tokens: `${dir}/pki/tokens.csv`,
  caCert: `${dir}/pki/ca.crt`,
  caKey: `${dir}/pki/ca.key`,
  serverCert: `${dir}/pki/apiserver.crt`,
  serverKey: `${dir}/pki/apiserver.key`,
  saKey: `${dir}/pki/sa.key`,
  saPub: `${dir}/pki/sa.pub`,
  /** The API server's client certificate towards kubelets (O=system:masters). */
  kubeletClientCert: `${dir}/pki/apiserver-kubelet-client.crt`,
  kubeletClientKey: `${dir}/pki/apiserver-kubelet-client.key`,
  etcdData: `${dir}/etcd`,
  logs: `${dir}/logs`,
});

/** `--token-auth-file` lines: token,user,uid,"groups". */
export function tokenFile(token: string): string {
  return `${token},${ADMIN_USER},${ADMIN_USER},"system:masters"\n`;
}

/** A kubeconfig (JSON is valid kubeconfig) for the admin token, trusting the cluster's own CA. */
export function kubeconfig(server: string, caFile: string, token: string): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'ainp-local', cluster: { server, 'certificate-authority': caFile } }],
      users: [{ name: ADMIN_USER, user: { token } }],
      contexts: [
        { name: 'ainp-local', context: { cluster: 'ainp-local', user: ADMIN_USER, namespace: 'default' } },
      ],
      'current-context': 'ainp-local',
    },
    null,
    2,
  );
}

/**
 * The processes in start order: etcd, then the API server, then the rest (which need it).
 * `advertise` is the address the API server publishes as the `kubernetes` Service's endpoint:
 * 127.0.0.1 (the default) where no pod ever runs; with the real node, the host's end of its veth
 * pair (node-plan.ts HOST_SIDE_IP), where a socat carries pods' connections to the API server on
 * loopback, so in-cluster clients (the CloudNativePG operator) reach it and nothing leaves here.
 */
export function processSpecs(l: Layout, ports: Ports, opts: { advertise?: string } = {}): ProcessSpec[] {
  const p = paths(l.dir);
  const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
  const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
  const common = [`--kubeconfig=${p.kubeconfig}`, '--leader-elect=false', '--bind-address=127.0.0.1'];
  return [
    {
      name: 'etcd',
      command: `${l.bin}/etcd`,
      args: [
        '--name=default',
        `--data-dir=${p.etcdData}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        // A throw-away cluster: durability is not worth the fsyncs on a shared CI disk.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
    },
    {
      name: 'kube-apiserver',
      command: `${l.bin}/kube-apiserver`,
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        `--advertise-address=${opts.advertise ?? '127.0.0.1'}`,
        `--secure-port=${ports.apiserver}`,
        `--tls-cert-file=${p.serverCert}`,
        `--tls-private-key-file=${p.serverKey}`,
        `--client-ca-file=${p.caCert}`,
        `--token-auth-file=${p.tokens}`,
        `--service-account-key-file=${p.saPub}`,
        `--service-account-signing-key-file=${p.saKey}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        // Node: a kubelet (system:node:<name>, O=system:nodes) reads and writes only what its own
        // pods need, and NodeRestriction keeps it from changing other nodes or its own taints.
        '--authorization-mode=Node,RBAC',
        // PodSecurity is on by default since 1.25; named here because the lane depends on it.
        '--enable-admission-plugins=PodSecurity,NodeRestriction',
        // Towards the real node's kubelet (infra/cluster/node.ts): a client certificate, the
        // kubelet's serving certificate checked against the lane's CA, and its InternalIP only:
        // the default order looks the node's name up in DNS first, which must not leave here.
        `--kubelet-client-certificate=${p.kubeletClientCert}`,
        `--kubelet-client-key=${p.kubeletClientKey}`,
        `--kubelet-certificate-authority=${p.caCert}`,
        '--kubelet-preferred-address-types=InternalIP',
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--allow-privileged=false',
        '--v=0',
      ],
    },
    {
      name: 'kube-controller-manager',
      command: `${l.bin}/kube-controller-manager`,
      args: [
        ...common,
        `--secure-port=${ports.controllerManager}`,
        `--root-ca-file=${p.caCert}`,
        `--service-account-private-key-file=${p.saKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        // Node lifecycle stays on: it removes the not-ready taint from new nodes.
        '--controllers=*',
      ],
    },
    {
      name: 'kube-scheduler',
      command: `${l.bin}/kube-scheduler`,
      args: [...common, `--secure-port=${ports.scheduler}`],
    },
    {
      name: 'kwok',
      command: `${l.bin}/kwok`,
      args: [
        `--kubeconfig=${p.kubeconfig}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${KWOK_ANNOTATION.key}=${KWOK_ANNOTATION.value}`,
        `--node-lease-duration-seconds=${NODE_LEASE_SECONDS}`,
        `--server-address=127.0.0.1:${ports.kwok}`,
        '--cidr=10.244.0.0/16',
        // The fake nodes' InternalIP: the API server dials it for logs, exec or port-forward on a
        // kwok pod (InternalIP only, see above), so it must be an address of this machine.
        '--node-ip=127.0.0.1',
      ],
    },
  ];
}

/** A fake node in a zone, with room for every pod the lane schedules. */
export function fakeNode(name: string, zone: string) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [KWOK_ANNOTATION.key]: KWOK_ANNOTATION.value, 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'topology.kubernetes.io/zone': zone,
        type: 'kwok',
      },
    },
    status: {
      allocatable: { cpu: '16', memory: '64Gi', pods: '110', 'ephemeral-storage': '100Gi' },
      capacity: { cpu: '16', memory: '64Gi', pods: '110', 'ephemeral-storage': '100Gi' },
    },
  };
}

export function fakeNodes() {
  return ZONES.map((zone, i) => fakeNode(`kwok-node-${i}`, zone));
}

/** The shell lines `npm run cluster -- env` prints: kubectl, Pulumi and the ops tools read them. */
export function envLines(kubeconfigPath: string, bin: string): string[] {
  return [`export KUBECONFIG=${kubeconfigPath}`, `export PATH=${bin}:$PATH`];
}
