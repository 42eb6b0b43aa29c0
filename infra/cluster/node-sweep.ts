/**
 * Stopping the lane's real node (node.ts starts it) and removing everything it left on the machine:
 * processes, mounts, links, iptables chains, cgroups, log links, and the sysctls it changed.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { alive, signalGroup, sleep, waitFor } from './control-plane.js';
import type { NodeState } from './node.js';
import { iptablesCleanup } from './node-fence.js';
import { BRIDGE, NODE_LINK, NODE_NAME, NODE_NETNS } from './node-plan.js';

const sh = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
const quietly = (f: () => unknown) => {
  try {
    f();
  } catch {
    // already gone, or never made
  }
};

/** Every cgroup folder named kubepods (and below it), deepest first, under every hierarchy. */
function kubepodsCgroups(): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
    found.push(d);
  };
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const top = `/sys/fs/cgroup/${h}/kubepods`;
    if (existsSync(top)) quietly(() => walk(top));
  }
  return found;
}

/** The processes whose command line names the lane's folder: containerd's shims among them. */
function processesNaming(dir: string): number[] {
  return readdirSync('/proc')
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid !== process.pid)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    });
}

/** Mount points at or below `dir`, deepest first (mountinfo escapes spaces as \040). */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * KILLs what is still running (the containers through their cgroups, the shims, the node's
 * processes), then removes mounts, links, iptables chains and cgroups, and writes the sysctls back.
 * Synchronous, so process.on('exit') can run it too.
 */
export function sweepNode(dir: string, node: NodeState) {
  for (const cg of kubepodsCgroups())
    for (const pid of readFileSync(`${cg}/cgroup.procs`, 'utf8').split('\n').filter(Boolean))
      quietly(() => process.kill(Number(pid), 'SIGKILL'));
  for (const { pid } of node.processes) signalGroup(pid, 'SIGKILL');
  for (const pid of processesNaming(dir)) quietly(() => process.kill(pid, 'SIGKILL'));
  const deadline = Date.now() + 10_000;
  while ((node.processes.some((x) => alive(x.pid)) || processesNaming(dir).length) && Date.now() < deadline)
    execFileSync('sleep', ['0.1']);
  for (const m of mountsUnder(dir)) quietly(() => sh('umount', [m]));
  // Lazily what was still busy: it goes when its last user does, and no longer shows as mounted.
  for (const m of mountsUnder(dir)) quietly(() => sh('umount', ['-l', m]));
  // The namespace goes with its bridge, its end of the pair and its iptables; the host's end of the
  // pair goes with its peer. Then whatever a node in the host's namespace would have left.
  if (existsSync(`/run/netns/${NODE_NETNS}`)) quietly(() => sh('ip', ['netns', 'delete', NODE_NETNS]));
  for (const link of [BRIDGE, NODE_LINK])
    if (existsSync(`/sys/class/net/${link}`)) quietly(() => sh('ip', ['link', 'delete', link]));
  for (const [save, cmd] of [
    ['iptables-save', 'iptables'],
    ['ip6tables-save', 'ip6tables'],
  ] as const) {
    let text = '';
    quietly(() => (text = sh(save, [])));
    for (const args of iptablesCleanup(text)) quietly(() => sh(cmd, args));
  }
  // A cgroup is removable once its last process is gone, which can lag the KILL a little.
  for (let i = 0; i < 20 && kubepodsCgroups().length; i++) {
    for (const cg of kubepodsCgroups()) quietly(() => rmdirSync(cg));
    if (kubepodsCgroups().length) execFileSync('sleep', ['0.2']);
  }
  for (const [file, value] of Object.entries(node.sysctls)) quietly(() => writeFileSync(file, `${value}\n`));
  for (const link of containerLogLinks(dir)) quietly(() => unlinkSync(link));
  for (const made of node.madePaths)
    if (made === '/run/netns') {
      // `ip netns add` bind-mounts the folder onto itself; only undone when no namespace is left.
      if (existsSync(made) && readdirSync(made).length === 0) {
        quietly(() => sh('umount', [made]));
        quietly(() => rmdirSync(made));
      }
    } else quietly(() => rmSync(made, { recursive: true, force: true }));
}

/**
 * The kubelet links each container's log into /var/log/containers (a fixed path, whatever
 * podLogsDir says), and removes the link only when it removes the container: the links into `dir`.
 */
export function containerLogLinks(dir: string): string[] {
  const at = '/var/log/containers';
  if (!existsSync(at)) return [];
  return readdirSync(at)
    .map((f) => path.join(at, f))
    .filter((f) => {
      try {
        return readlinkSync(f).startsWith(`${dir}/`);
      } catch {
        return false;
      }
    });
}

/**
 * Stops the node: its pods are deleted through the API first (the kubelet stops their sandboxes,
 * so the CNI plugin releases their addresses, veths and namespaces), then kube-proxy and the
 * kubelet get TERM, then sweepNode removes whatever is left.
 */
export async function stopNode(
  dir: string,
  node: NodeState,
  kubectl: ((args: string[]) => Promise<string>) | undefined,
) {
  if (kubectl && node.processes.some((x) => x.name === 'kubelet' && alive(x.pid))) {
    try {
      const sel = `spec.nodeName=${NODE_NAME}`;
      await kubectl(['delete', 'pods', '-A', '--field-selector', sel, '--grace-period=1', '--wait=false']);
      await waitFor('the node’s pods to be gone', 30_000, async () =>
        (await kubectl(['get', 'pods', '-A', '--field-selector', sel, '-o', 'name'])).trim()
          ? undefined
          : true,
      );
    } catch {
      // sweepNode KILLs what did not stop
    }
  }
  for (const { pid } of [...node.processes].reverse()) signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (node.processes.some((x) => alive(x.pid)) && Date.now() < deadline) await sleep(100);
  sweepNode(dir, node);
}
