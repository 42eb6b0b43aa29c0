/**
 * The real node's iptables as data (pure): the fence the lane adds inside the node's network
 * namespace, and the clean-up of what the kubelet, kube-proxy and the fence put in iptables.
 */
import { FENCE_CHAIN, HOST_SIDE_IP, NODE_IP, POD_CIDR, SERVICE_CIDR } from './node-plan.js';

/** The nat chain that gives pods' connections to the API server's socat the node's address. */
export const API_SNAT_CHAIN = 'AINP-NODE-API-SNAT';

/**
 * The fence, as `iptables` argument lists: one chain, in two tables (and a SNAT in nat). In mangle it is hooked first
 * into FORWARD: pod-range packets pass only between two pod addresses (a Service's DNAT happened in
 * PREROUTING, so its packets already carry the pod's address), anything else from or to the pod
 * range is dropped. mangle, not filter, because kube-proxy prepends its own FORWARD chain to filter,
 * which ACCEPTs established and marked packets before any rule of ours could see them; mangle runs
 * before filter and kube-proxy leaves it alone. In filter it is hooked into OUTPUT for service
 * addresses: one still unNATed there has no endpoint (nat OUTPUT ran first), so drop it rather than
 * let it follow the default route.
 *
 * One way out of the pod range is let through: TCP to the API server's socat on the host's end of
 * the pair (HOST_SIDE_IP at `apiserverPort`, the `kubernetes` Service's endpoint, plan.ts) and its
 * answers. The host itself is this machine; socat carries the bytes to the API server on loopback.
 * Those connections leave the namespace with the node's address (SNAT in API_SNAT_CHAIN), so the
 * host never sees, routes or answers a pod address.
 *
 * One way in as well: the API server, on the host, calls admission webhooks (CloudNativePG's) at
 * their Service's address, which the host routes to the node (node.ts); kube-proxy masquerades
 * those connections to the bridge's address, and the pod's answers go back only as part of them
 * (conntrack ESTABLISHED): a pod can never open a connection to the host this way.
 */
export function fenceRules(apiserverPort: number): string[][] {
  const c = FENCE_CHAIN;
  const port = String(apiserverPort);
  const api = ['-d', `${HOST_SIDE_IP}/32`, '-p', 'tcp', '--dport', port];
  const apiAnswer = ['-s', `${HOST_SIDE_IP}/32`, '-d', POD_CIDR, '-p', 'tcp', '--sport', port];
  const chain = (t: string) => [
    ['-t', t, '-N', c],
    ['-t', t, '-A', c, '-s', POD_CIDR, '-d', POD_CIDR, '-j', 'RETURN'],
    ['-t', t, '-A', c, '-s', POD_CIDR, ...api, '-j', 'RETURN'],
    ['-t', t, '-A', c, ...apiAnswer, '-j', 'RETURN'],
    ['-t', t, '-A', c, '-s', `${HOST_SIDE_IP}/32`, '-d', POD_CIDR, '-j', 'RETURN'],
    [
      ...['-t', t, '-A', c, '-s', POD_CIDR, '-d', `${HOST_SIDE_IP}/32`],
      ...['-m', 'conntrack', '--ctstate', 'ESTABLISHED', '-j', 'RETURN'],
    ],
    ['-t', t, '-A', c, '-s', POD_CIDR, '-j', 'DROP'],
    ['-t', t, '-A', c, '-d', POD_CIDR, '-j', 'DROP'],
    ['-t', t, '-A', c, '-d', SERVICE_CIDR, '-j', 'DROP'],
  ];
  return [
    ...chain('mangle'),
    ['-t', 'mangle', '-I', 'FORWARD', '1', '-j', c],
    ...chain('filter'),
    ['-t', 'filter', '-I', 'OUTPUT', '1', '-d', SERVICE_CIDR, '-j', c],
    ['-t', 'nat', '-N', API_SNAT_CHAIN],
    ['-t', 'nat', '-A', API_SNAT_CHAIN, '-s', POD_CIDR, ...api, '-j', 'SNAT', '--to-source', NODE_IP],
    ['-t', 'nat', '-I', 'POSTROUTING', '1', '-j', API_SNAT_CHAIN],
  ];
}

/** Chains the node's processes and the fence create (kubelet, kube-proxy: KUBE-*; ours: AINP-*). */
const OURS = /^(KUBE-|AINP-)/;

/**
 * From `iptables-save` (or ip6tables-save) output, the commands that remove every rule jumping to
 * a KUBE-* or AINP-* chain from a built-in chain, then flush and delete those chains, table by table.
 */
export function iptablesCleanup(save: string): string[][] {
  const cmds: string[][] = [];
  let table = '';
  const chains: string[] = [];
  const flushTable = () => {
    for (const c of chains) cmds.push(['-t', table, '-F', c]);
    for (const c of chains) cmds.push(['-t', table, '-X', c]);
    chains.length = 0;
  };
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
    } else if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      if (OURS.test(name)) chains.push(name);
    } else if (line.startsWith('-A ')) {
      const words = splitRule(line);
      const chain = words[1]!;
      const target = words[words.indexOf('-j') + 1] ?? '';
      if (!OURS.test(chain) && OURS.test(target) && words.includes('-j'))
        cmds.push(['-t', table, '-D', ...words.slice(1)]);
    } else if (line.trim() === 'COMMIT') {
      flushTable();
    }
  }
  return cmds;
}

/** iptables-save quotes comments with spaces: split on spaces outside double quotes, unquoted. */
function splitRule(line: string): string[] {
  return (line.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? []).map((w) =>
    w.startsWith('"') ? w.slice(1, -1).replace(/\\"/g, '"') : w,
  );
}
