/**
 * Finds processes left running inside a folder: those whose working directory or command line is
 * in it. Every server the project starts (PostgreSQL, Valkey, NATS, the broker) runs with its
 * working directory in the repository or in a data folder below it, so after a test run, a stopped
 * `npm start` or the whole of CI, nothing may be left there. Linux only (reads /proc).
 *
 * It also finds what the cluster lane's real node (infra/cluster/node.ts) leaves on the machine if
 * its `down` did not finish: see nodeLeftovers.
 *
 *   node --import tsx scripts/leftovers.ts [FOLDER]   prints them; exits 1 if there are any
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export type Leftover = { pid: number; command: string; cwd: string };

const read = <T>(f: () => T): T | undefined => {
  try {
    return f();
  } catch {
    return undefined; // the process ended meanwhile, or is not ours to read
  }
};

function parentOf(pid: number): number {
  const stat = read(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  // Field 4 (ppid) follows the command name, which is in parentheses and may hold spaces.
  return Number(stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1] ?? 0);
}

/** This process and its ancestors: the caller itself is not a leftover. */
function ownLine(): Set<number> {
  const own = new Set<number>();
  for (let pid = process.pid; pid > 1 && !own.has(pid); pid = parentOf(pid)) own.add(pid);
  return own;
}

/** A process this one started (the CLI's own tsx esbuild service, say). */
function isOwnDescendant(pid: number): boolean {
  for (let p = parentOf(pid), hops = 0; p > 1 && hops < 64; p = parentOf(p), hops++)
    if (p === process.pid) return true;
  return false;
}

/** `ownChildren: false` leaves out what this process started itself (the CLI's view). */
export function processesIn(folder: string, { ownChildren = true } = {}): Leftover[] {
  const dir = path.resolve(folder);
  const inside = (p: string) => p === dir || p.startsWith(`${dir}/`);
  const own = ownLine();
  const found: Leftover[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || own.has(pid) || (!ownChildren && isOwnDescendant(pid))) continue;
    const cwd = read(() => readlinkSync(`/proc/${pid}/cwd`)) ?? '';
    const command = (read(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8')) ?? '')
      .split('\0')
      .join(' ')
      .trim();
    if (!command) continue; // kernel threads and zombies
    if (inside(cwd) || command.includes(dir)) found.push({ pid, command, cwd });
  }
  return found;
}

const lines = (cmd: string, args: string[]) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n');
  } catch {
    return []; // the tool is not installed: then nothing of it was made either
  }
};

/**
 * What a real node leaves on the machine when its `down` did not finish: the lane's links
 * (ainp-*), iptables or ip6tables chains of the kubelet, kube-proxy or the lane's fence (KUBE-*,
 * AINP-*), kubepods cgroups, mounts of a lane folder (ainp-cluster-*), the kubelet's log links into
 * one (/var/log/containers), and processes of containerd,
 * the kubelet or kube-proxy whose command line names a lane folder. One line each; none is fine.
 */
export function nodeLeftovers(): string[] {
  const found: string[] = [];
  if (existsSync('/sys/class/net'))
    for (const link of readdirSync('/sys/class/net'))
      if (link.startsWith('ainp-')) found.push(`link ${link}`);
  for (const save of ['iptables-save', 'ip6tables-save']) {
    let table = '';
    for (const line of lines(save, [])) {
      if (line.startsWith('*')) table = line.slice(1);
      if (/^:(KUBE-|AINP-)/.test(line))
        found.push(`${save}: chain ${line.slice(1).split(' ')[0]} in ${table}`);
    }
  }
  // The real node's network namespace (infra/cluster/node-plan.ts NODE_NETNS).
  if (existsSync('/run/netns/ainp-node')) found.push('netns ainp-node');
  if (existsSync('/sys/fs/cgroup'))
    for (const h of readdirSync('/sys/fs/cgroup'))
      if (existsSync(`/sys/fs/cgroup/${h}/kubepods`)) found.push(`cgroup /sys/fs/cgroup/${h}/kubepods`);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const at = line.split(' ')[4] ?? '';
    if (at.includes('/ainp-cluster-')) found.push(`mount ${at}`);
  }
  if (existsSync('/var/log/containers'))
    for (const f of readdirSync('/var/log/containers')) {
      const to = read(() => readlinkSync(`/var/log/containers/${f}`)) ?? '';
      if (to.includes('/ainp-cluster-')) found.push(`log link /var/log/containers/${f} -> ${to}`);
    }
  // By the program run, not by any word of the command line: another lane's kube-apiserver names
  // the kubelet in its flags and is no node process (it made a node test fail while two lanes ran).
  for (const p of processesIn('/', { ownChildren: false }))
    if (
      /ainp-cluster-/.test(p.command) &&
      /^(containerd|kubelet|kube-proxy)/.test(path.basename(p.command.split(' ')[0] ?? ''))
    )
      found.push(`process ${p.pid}: ${p.command.slice(0, 160)}`);
  return found;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const folder = process.argv[2] ?? process.cwd();
  const left = processesIn(folder, { ownChildren: false });
  for (const p of left) console.log(`left running: pid ${p.pid} (cwd ${p.cwd}): ${p.command.slice(0, 200)}`);
  console.log(
    left.length
      ? `${left.length} processes left running in ${folder}`
      : `no process left running in ${folder}`,
  );
  const node = nodeLeftovers();
  for (const thing of node) console.log(`left by a cluster node: ${thing}`);
  process.exit(left.length || node.length ? 1 : 0);
}
