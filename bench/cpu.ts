import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS = 100;

/** CPU seconds by group: the named pids, the services by command name, everything else as `other`. */
export type CpuGroups = Record<string, number>;

/** The services' commands, each a group of its own (all PostgreSQL backends add up under `postgres`). */
const SERVICES = new Set(['postgres', 'redis-server', 'nats-server']);

/**
 * CPU seconds (user + system) used so far by every process on the machine, grouped: the pids in
 * `named` under their name, PostgreSQL, Valkey and NATS by command, the rest (the kernel's
 * network threads among them) as `other`. Linux only (/proc); elsewhere empty, and the CPU columns stay blank. A process
 * that exits between two readings takes its seconds with it, so compare readings around a run
 * whose processes live through it (the broker's pool keeps its database sessions).
 */
export function cpuSeconds(named: Record<string, number | undefined>): CpuGroups {
  const byPid = new Map(Object.entries(named).flatMap(([n, pid]) => (pid ? [[pid, n] as const] : [])));
  const out: CpuGroups = {};
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    // "pid (comm) state ppid ..." where comm may hold spaces and parentheses: split after the last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    if (!ticks) continue;
    const group = byPid.get(Number(pid)) ?? (SERVICES.has(comm) ? comm : 'other');
    out[group] = (out[group] ?? 0) + ticks / TICKS;
  }
  return out;
}

/** Microseconds of CPU per request for each group that used at least 1 µs per request. */
export function cpuPerRequest(before: CpuGroups, after: CpuGroups, requests: number): Record<string, number> {
  const out: Record<string, number> = {};
  if (!requests) return out;
  for (const [group, s] of Object.entries(after)) {
    const us = ((s - (before[group] ?? 0)) * 1e6) / requests;
    if (us >= 1) out[group] = Math.round(us);
  }
  return out;
}
