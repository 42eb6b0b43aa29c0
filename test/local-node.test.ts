import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cniConflist,
  containerdConfig,
  FENCE_CHAIN,
  HOST_SIDE_IP,
  LANE_IMAGES,
  type Images,
  kubeletConfig,
  kubeProxyConfig,
  NODE_IP,
  NODE_NAME,
  nodeProcessSpecs,
  nodeServer,
  POD_CIDR,
  SERVICE_CIDR,
} from '../infra/cluster/node-plan.js';
import { API_SNAT_CHAIN, fenceRules, iptablesCleanup } from '../infra/cluster/node-fence.js';

/** The cluster lane's real node as a plan (infra/cluster/node-plan.ts): what keeps it fenced in. */
const dir = '/tmp/c';
const ports = {
  kubelet: 20250,
  kubeletHealthz: 20248,
  proxyHealthz: 20256,
  proxyMetrics: 20249,
};
const API_PORT = 6443;
const images = Object.fromEntries(LANE_IMAGES.map((n) => [n, `localhost/ainp/${n}:abc`])) as Images;

const ip = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const inCidr = (addr: string, cidr: string) => {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ip(addr) / size) === Math.floor(ip(base!) / size);
};

/**
 * Runs a TCP packet (src and dst as address or address:port) through the fence chain as iptables
 * would: the first rule whose every match holds decides.
 */
function fence(src: string, dst: string, state: 'NEW' | 'ESTABLISHED' = 'NEW'): 'RETURN' | 'DROP' {
  const [srcIp, sport] = src.split(':');
  const [dstIp, dport] = dst.split(':');
  const rules = fenceRules(API_PORT).filter(
    (r) => r[1] === 'mangle' && r[2] === '-A' && r[3] === FENCE_CHAIN,
  );
  for (const r of rules) {
    const arg = (flag: string) => (r.indexOf(flag) > 0 ? r[r.indexOf(flag) + 1]! : undefined);
    const s = arg('-s');
    const d = arg('-d');
    const matches =
      (!s || inCidr(srcIp!, s)) &&
      (!d || inCidr(dstIp!, d)) &&
      (!arg('--sport') || arg('--sport') === sport) &&
      (!arg('--dport') || arg('--dport') === dport) &&
      (!arg('--ctstate') || arg('--ctstate')!.split(',').includes(state));
    if (matches) return r[r.indexOf('-j') + 1] as 'RETURN' | 'DROP';
  }
  return 'RETURN';
}

describe('the real node plan', () => {
  it('runs containerd with everything under the lane folder and the settings this machine needs', () => {
    const toml = containerdConfig(dir, images);
    expect(toml).toContain('restrict_oom_score_adj = true');
    expect(toml).toContain('SystemdCgroup = false');
    expect(toml).toContain('netns_mounts_under_state_dir = true');
    expect(toml).toContain(`sandbox_image = "${images.pause}"`);
    expect(toml).toContain('stream_server_address = "127.0.0.1"');
    expect(toml).toContain(`config_path = "${dir}/node/containerd/certs.d"`);
    const paths = [...toml.matchAll(/= "(\/[^"]*)"/g)].map((m) => m[1]!);
    expect(paths.filter((p) => !p.startsWith(`${dir}/node/`))).toEqual(['/usr/lib/cni']);
  });

  it('gives pods no default route and no masquerade: only the pod range, services and the node', () => {
    const bridge = cniConflist(dir).plugins[0]!;
    expect(bridge.ipMasq).toBe(false);
    expect(bridge.isDefaultGateway).toBe(false);
    expect(bridge.ipam.routes).toEqual([{ dst: SERVICE_CIDR }, { dst: `${NODE_IP}/32` }]);
    expect(bridge.ipam.ranges).toEqual([[{ subnet: POD_CIDR, gateway: '10.250.0.1' }]]);
    expect(bridge.ipam.dataDir.startsWith(`${dir}/`)).toBe(true);
  });

  it('runs the kubelet with certificates only: no anonymous access, webhook authorization', () => {
    const k = kubeletConfig(dir, ports);
    expect(k.authentication).toEqual({
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: `${dir}/pki/ca.crt` },
    });
    expect(k.authorization).toEqual({ mode: 'Webhook' });
    expect(k.readOnlyPort).toBe(0);
    expect([k.address, k.port, k.healthzBindAddress]).toEqual([NODE_IP, 20250, '127.0.0.1']);
    expect([k.cgroupDriver, k.failSwapOn]).toEqual(['cgroupfs', false]);
    expect(k.containerRuntimeEndpoint).toBe(`unix://${dir}/node/containerd/containerd.sock`);
    expect(k.resolvConf.startsWith(`${dir}/`)).toBe(true);
    const kubelet = nodeProcessSpecs(dir, '/b', ports, API_PORT).find((s) => s.name === 'kubelet')!;
    expect(kubelet.command).toBe('nsenter');
    expect(kubelet.args.slice(0, 3)).toEqual(['--net=/run/netns/ainp-node', '--', '/b/kubelet']);
    expect(kubelet.args).toEqual(
      expect.arrayContaining([`--node-ip=${NODE_IP}`, `--hostname-override=${NODE_NAME}`]),
    );
  });

  it('runs every node process in the node’s network namespace; only socat, towards the API server, outside', () => {
    const specs = nodeProcessSpecs(dir, '/b', ports, API_PORT);
    expect(specs.map((s) => [s.name, s.command])).toEqual([
      ['api-proxy', 'socat'],
      ['containerd', 'nsenter'],
      ['kubelet', 'nsenter'],
      ['kube-proxy', 'nsenter'],
      ['coredns', 'nsenter'],
    ]);
    for (const s of specs.slice(1)) expect(s.args[0]).toBe('--net=/run/netns/ainp-node');
    // socat listens on the host's end of the pair only, on the API server's port (which listens on
    // loopback only), and carries to the API server on loopback.
    expect(specs[0]!.args).toEqual([
      'TCP-LISTEN:6443,bind=10.250.255.2,fork,reuseaddr',
      'TCP:127.0.0.1:6443',
    ]);
    expect(nodeServer(API_PORT)).toBe('https://10.250.255.2:6443');
  });

  it('runs kube-proxy in iptables mode, node ports on the node address only, listeners on loopback', () => {
    const p = kubeProxyConfig(dir, ports);
    expect(p.mode).toBe('iptables');
    expect(p.nodePortAddresses).toEqual([`${NODE_IP}/32`]);
    expect(p.iptables.localhostNodePorts).toBe(false);
    expect([p.healthzBindAddress, p.metricsBindAddress]).toEqual([`${NODE_IP}:20256`, '127.0.0.1:20249']);
    expect(p.conntrack.maxPerCore).toBe(0);
  });

  it('fences forwarded traffic: pod to pod passes, anything leaving or entering the pod range drops', () => {
    expect(fence('10.250.0.5', '10.250.0.9')).toBe('RETURN');
    for (const outside of ['192.0.2.1', '10.0.0.1', '8.8.8.8', '10.251.0.1'])
      expect([outside, fence('10.250.0.5', outside)]).toEqual([outside, 'DROP']);
    expect(fence('192.0.2.1', '10.250.0.5')).toBe('DROP');
    // A service address still unNATed has no endpoint: dropped rather than routed.
    expect(fence('192.0.2.2', '10.96.0.10')).toBe('DROP');
    expect(fenceRules(API_PORT)).toContainEqual(['-t', 'mangle', '-I', 'FORWARD', '1', '-j', FENCE_CHAIN]);
    expect(fenceRules(API_PORT)).toContainEqual([
      '-t',
      'filter',
      '-I',
      'OUTPUT',
      '1',
      '-d',
      SERVICE_CIDR,
      '-j',
      FENCE_CHAIN,
    ]);
  });

  it('lets pods reach the API server’s socat on the host’s end of the pair, and nothing else there', () => {
    // The `kubernetes` Service's endpoint (the API server advertises HOST_SIDE_IP), and its answers.
    expect(fence('10.250.0.5:40000', `${HOST_SIDE_IP}:${API_PORT}`)).toBe('RETURN');
    expect(fence(`${HOST_SIDE_IP}:${API_PORT}`, '10.250.0.5:40000')).toBe('RETURN');
    // Any other port of the host, or the API server's port elsewhere, stays fenced.
    expect(fence('10.250.0.5:40000', `${HOST_SIDE_IP}:22`)).toBe('DROP');
    expect(fence('10.250.0.5:40000', `192.0.2.1:${API_PORT}`)).toBe('DROP');
    expect(fence('10.250.0.5:40000', `${HOST_SIDE_IP}:22`, 'ESTABLISHED')).toBe('RETURN');
    // The host (the API server calling a webhook through its Service) may open connections to pods;
    // they answer within those connections only.
    expect(fence(`${HOST_SIDE_IP}:50000`, '10.250.0.5:9443')).toBe('RETURN');
    expect(fence('10.250.0.5:9443', `${HOST_SIDE_IP}:50000`, 'ESTABLISHED')).toBe('RETURN');
    expect(fence('10.250.0.5:9443', `${HOST_SIDE_IP}:50000`)).toBe('DROP');
    // Those connections leave the namespace with the node's address: the host never sees a pod's.
    const nat = fenceRules(API_PORT).filter((r) => r[1] === 'nat');
    expect(nat).toEqual([
      ['-t', 'nat', '-N', API_SNAT_CHAIN],
      [
        ...['-t', 'nat', '-A', API_SNAT_CHAIN, '-s', POD_CIDR, '-d', `${HOST_SIDE_IP}/32`],
        ...['-p', 'tcp', '--dport', String(API_PORT), '-j', 'SNAT', '--to-source', NODE_IP],
      ],
      ['-t', 'nat', '-I', 'POSTROUTING', '1', '-j', API_SNAT_CHAIN],
    ]);
  });

  it('cleans up from iptables-save: jumps out of built-in chains, then flush and delete, per table', () => {
    // Recorded with the real node up (node.cluster.ts, RECORD_FIXTURES=1): kubelet, kube-proxy, fence.
    const save = readFileSync(
      path.join(import.meta.dirname, 'fixtures/iptables/node-up.iptables-save'),
      'utf8',
    );
    const cmds = iptablesCleanup(save);
    const tables = ['mangle', 'filter', 'nat'];
    for (const table of tables) {
      const section = save.split(`*${table}\n`)[1]!.split('COMMIT')[0]!;
      const ours = [...section.matchAll(/^:((?:KUBE|AINP)-\S+)/gm)].map((m) => m[1]!);
      const jumps = [...section.matchAll(/^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) (.*)$/gm)]
        .filter((m) => / -j (KUBE|AINP)-/.test(m[0]))
        .map((m) => m[1]!);
      const mine = cmds.filter((c) => c[1] === table);
      expect(ours.length).toBeGreaterThan(0);
      // Each jump from a built-in chain is deleted before any chain is flushed, then each is deleted.
      expect(mine.filter((c) => c[2] === '-D').map((c) => c[3])).toEqual(jumps);
      expect(mine.filter((c) => c[2] === '-F').map((c) => c[3])).toEqual(ours);
      expect(mine.filter((c) => c[2] === '-X').map((c) => c[3])).toEqual(ours);
      const order = mine.map((c) => c[2]);
      expect(order.lastIndexOf('-D')).toBeLessThan(order.indexOf('-F'));
    }
    expect(cmds).toContainEqual(['-t', 'mangle', '-D', 'FORWARD', '-j', FENCE_CHAIN]);
    // A quoted comment comes back as one argument, without its quotes.
    expect(cmds).toContainEqual(['-t', 'filter', '-D', 'INPUT', '-j', 'KUBE-FIREWALL']);
    expect(cmds).toContainEqual([
      '-t',
      'filter',
      '-D',
      'INPUT',
      '-m',
      'comment',
      '--comment',
      'kubernetes health check service ports',
      '-j',
      'KUBE-NODEPORTS',
    ]);
  });
});
