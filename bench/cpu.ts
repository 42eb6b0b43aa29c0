import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS = 100;

/** A reading of every process's CPU seconds, keyed by pid and start time, with its group. */
export type CpuSnapshot = Map<string, { group: string; seconds: number }>;

/** The services' commands, each a group of its own (all PostgreSQL backends add up under `postgres`). */
const SERVICES = new Set(['postgres', 'redis-server', 'nats-server']);

/**
 * CPU seconds (user + system) used so far by every process on the machine, each with its group:
 * the pids in `named` under their name, PostgreSQL, Valkey and NATS by command, the rest (the
 * kernel's network threads among them) as `other`. Linux only (/proc); elsewhere empty, and the
 * CPU columns stay blank. Keyed by pid and start time, so a reused pid is another process.
 */
export function cpuSeconds(named: Record<string, number | undefined>): CpuSnapshot {
  const byPid = new Map(Object.entries(named).flatMap(([n, pid]) => (pid ? [[pid, n] as const] : [])));
  const out: CpuSnapshot = new Map();
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
    const started = fields[19]; // starttime (field 22)
    const group = byPid.get(Number(pid)) ?? (SERVICES.has(comm) ? comm : 'other');
    out.set(`${pid}:${started}`, { group, seconds: ticks / TICKS });
  }
  return out;
}

/**
 * Microseconds of CPU per request for each group that used at least 1 µs per request, between two
 * readings: each process's own difference, so a process that exits between them (a database
 * session the pool closes when idle) does not take its earlier seconds off its group. What it
 * used between the first reading and its exit is lost; a process started in between counts whole.
 */
export function cpuPerRequest(
  before: CpuSnapshot,
  after: CpuSnapshot,
  requests: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  if (!requests) return out;
  const seconds: Record<string, number> = {};
  for (const [key, { group, seconds: s }] of after)
    seconds[group] = (seconds[group] ?? 0) + s - (before.get(key)?.seconds ?? 0);
  for (const [group, s] of Object.entries(seconds)) {
    const us = (s * 1e6) / requests;
    if (us >= 1) out[group] = Math.round(us);
  }
  return out;
}
