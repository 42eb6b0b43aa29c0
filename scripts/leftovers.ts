/**
 * Finds processes left running inside a folder: those whose working directory or command line is
 * in it. Every server the project starts (PostgreSQL, Valkey, NATS, the broker) runs with its
 * working directory in the repository or in a data folder below it, so after a test run, a stopped
 * `npm start` or the whole of CI, nothing may be left there. Linux only (reads /proc).
 *
 *   node --import tsx scripts/leftovers.ts [FOLDER]   prints them; exits 1 if there are any
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
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

if (import.meta.url === `file://${process.argv[1]}`) {
  const folder = process.argv[2] ?? process.cwd();
  const left = processesIn(folder, { ownChildren: false });
  for (const p of left) console.log(`left running: pid ${p.pid} (cwd ${p.cwd}): ${p.command.slice(0, 200)}`);
  console.log(
    left.length
      ? `${left.length} processes left running in ${folder}`
      : `no process left running in ${folder}`,
  );
  process.exit(left.length ? 1 : 0);
}
