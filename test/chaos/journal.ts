/**
 * The chaos run's journal (loadtests/lib/chaos.ts writes it on k6's log) and the failure table
 * computed from it: per injected failure, the requests that failed, the longest stretch without a
 * successful write and the time until writes succeeded again.
 */
export const JOURNAL = '==ainp-journal==';

export type WriteEntry = {
  k: 'intent' | 'negotiation';
  /** The run's key for the write (`<run>:<iteration>`), written into the intent's description. */
  ref: string;
  t0: number;
  t: number;
  /** The HTTP status; 0 when no answer came (a reset connection, a timeout). */
  s: number;
  /** The id answered (on 201). */
  id?: string;
  /** A negotiation's intent. */
  intent?: string;
  e?: number;
};
export type ReadEntry = { k: 'read'; t: number; s: number; e?: number };
export type EventEntry = { k: 'event'; t: number; id: string; ev: string; type: string; n?: string };
export type SocketEntry = {
  k: 'ws-open' | 'ws-close' | 'ws-error' | 'ws-end';
  t: number;
  [x: string]: unknown;
};
export type SetupEntry = {
  k: 'setup';
  t: number;
  run: string;
  rate: number;
  duration: string;
  writeShare: number;
  providers: string[];
};

export type Journal = {
  setup: SetupEntry;
  writes: WriteEntry[];
  reads: ReadEntry[];
  events: EventEntry[];
  sockets: SocketEntry[];
};

/** The journal lines of a log (anything else on it, k6's own warnings, is skipped). */
export function parseJournal(log: string): Journal {
  const j: Omit<Journal, 'setup'> & { setup?: SetupEntry } = {
    writes: [],
    reads: [],
    events: [],
    sockets: [],
  };
  for (const line of log.split('\n')) {
    const at = line.indexOf(JOURNAL);
    if (at < 0) continue;
    const e = JSON.parse(line.slice(at + JOURNAL.length)) as { k: string };
    if (e.k === 'setup') j.setup = e as SetupEntry;
    else if (e.k === 'intent' || e.k === 'negotiation') j.writes.push(e as WriteEntry);
    else if (e.k === 'read') j.reads.push(e as ReadEntry);
    else if (e.k === 'event') j.events.push(e as EventEntry);
    else j.sockets.push(e as SocketEntry);
  }
  if (!j.setup) throw new Error('the log holds no journal: the k6 run never finished its setup');
  return j as Journal;
}

export const ok = (s: number) => s >= 200 && s < 300;

export type Injection = {
  name: string;
  /** When the pod was deleted (ms since the epoch, the same clock as the journal's). */
  at: number;
  /** When what was deleted was back (its replacement Ready, or the failover done), if it came back. */
  back?: number;
  /** What the table's reader should know (which pod, when the failover happened). */
  note?: string;
};

export type FailureRow = {
  failure: string;
  /** The window: from the injection to the next one (or the end of the load), seconds. */
  windowS: number;
  writesOk: number;
  failedWrites: number;
  failedReads: number;
  /** Failed requests by status (0: no answer). */
  statuses: Record<string, number>;
  /** The longest time without a successful write in the window, seconds. */
  longestGapS: number;
  /**
   * From the injection to the first successful write after the window's last failed request,
   * seconds; 0 when nothing failed.
   */
  recoverS: number;
  /** From the injection until what was deleted was back, seconds (undefined: not measured). */
  backS: number | undefined;
  /**
   * When the failures came, in seconds after the injection: runs of failures less than 10 s apart,
   * each `first-last (count)`.
   */
  bursts: string;
};

/**
 * One row per window: `before` (from the first write to the first injection) and one per
 * injection, until the next one or `end`.
 */
export function failureTable(j: Journal, injections: Injection[], end: number): FailureRow[] {
  const start = Math.min(...j.writes.map((w) => w.t0));
  const windows = [
    { name: 'none (before the first failure)', at: start, back: undefined as number | undefined },
    ...injections,
  ];
  const successes = j.writes
    .filter((w) => ok(w.s))
    .map((w) => w.t)
    .sort((a, b) => a - b);
  return windows.map((w, i) => {
    const until = windows[i + 1]?.at ?? end;
    const inWindow = (t: number) => t >= w.at && t < until;
    const failedWrites = j.writes.filter((x) => !ok(x.s) && inWindow(x.t));
    const failedReads = j.reads.filter((x) => inWindow(x.t));
    const statuses: Record<string, number> = {};
    for (const f of [...failedWrites, ...failedReads]) statuses[f.s] = (statuses[f.s] ?? 0) + 1;
    const oks = successes.filter(inWindow);
    const marks = [w.at, ...oks, until];
    let gap = 0;
    for (let k = 1; k < marks.length; k++) gap = Math.max(gap, marks[k]! - marks[k - 1]!);
    const failedAt = [...failedWrites, ...failedReads].map((x) => x.t).sort((a, b) => a - b);
    const lastFailure = Math.max(-Infinity, ...failedAt);
    const recovered = Number.isFinite(lastFailure) ? successes.find((t) => t > lastFailure) : w.at;
    return {
      failure: w.name,
      windowS: secs(until - w.at),
      writesOk: oks.length,
      failedWrites: failedWrites.length,
      failedReads: failedReads.length,
      statuses,
      longestGapS: secs(gap),
      recoverS: recovered === undefined ? Infinity : secs(recovered - w.at),
      backS: w.back === undefined ? undefined : secs(w.back - w.at),
      bursts: bursts(failedAt.map((t) => t - w.at)),
    };
  });
}

/** Failure times (ms after the injection) as runs less than 10 s apart: `1.2-5 (30), 188-190.3 (17)`. */
function bursts(after: number[]): string {
  const runs: number[][] = [];
  for (const t of after) {
    const run = runs.at(-1);
    if (run && t - run.at(-1)! < 10_000) run.push(t);
    else runs.push([t]);
  }
  return runs.map((r) => `${secs(r[0]!)}-${secs(r.at(-1)!)} (${r.length})`).join(', ');
}

const secs = (ms: number) => Math.round(ms / 100) / 10;

/** The table as text, for the log and the note. */
export function formatTable(rows: FailureRow[]): string {
  const head = [
    'failure',
    'window s',
    'writes ok',
    'failed writes',
    'failed reads',
    'failed by status',
    'longest write gap s',
    'recovered after s',
    'back after s',
    'failures at s after (count)',
  ];
  const body = rows.map((r) => [
    r.failure,
    String(r.windowS),
    String(r.writesOk),
    String(r.failedWrites),
    String(r.failedReads),
    Object.entries(r.statuses)
      .map(([s, n]) => `${s === '0' ? 'no answer' : s}: ${n}`)
      .join(', ') || '-',
    String(r.longestGapS),
    r.recoverS === Infinity ? 'never' : String(r.recoverS),
    r.backS === undefined ? '-' : String(r.backS),
    r.bursts || '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
