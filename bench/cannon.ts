import autocannon from 'autocannon';

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Exact nearest-rank percentile of ascending values (null when there are none). */
export const percentile = (sorted: Float64Array, p: number) =>
  sorted.length ? round(sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!) : null;

export interface Sample {
  connections: number;
  /** Responses with a 2xx status: the only ones counted in req/s and the percentiles. */
  requests: number;
  /** From the start to the last response. */
  seconds: number;
  rps: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  non2xx: number;
  /** Socket errors and timeouts (timeouts are also counted on their own). */
  errors: number;
  timeouts: number;
  statuses: Record<string, number>;
  /** False when any response was not 2xx, any request failed or none succeeded. */
  ok: boolean;
}

/** Counts, rate and exact percentiles of the response times of a run that lasted `elapsed` seconds. */
function timing(times: number[], elapsed: number) {
  const sorted = Float64Array.from(times).sort();
  return {
    requests: times.length,
    seconds: round(elapsed, 3),
    rps: elapsed > 0 ? Math.round(times.length / elapsed) : 0,
    p50_ms: percentile(sorted, 0.5),
    p95_ms: percentile(sorted, 0.95),
    p99_ms: percentile(sorted, 0.99),
    max_ms: sorted.length ? round(sorted[sorted.length - 1]!) : null,
  };
}

/**
 * One autocannon run, every response's time and status recorded here rather than in autocannon's
 * histogram (which reports p90 and p97.5, not p95). req/s is the 2xx count over the time from the
 * start to the last response: with `amount`, autocannon notices the end only at its next
 * one-second tick, so its own duration would be too long.
 */
export function cannon(opts: autocannon.Options): Promise<Sample> {
  const times: number[] = [];
  const statuses: Record<string, number> = {};
  let non2xx = 0;
  let last = 0;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      resolve({
        connections: opts.connections ?? 10,
        ...timing(times, ((last || performance.now()) - t0) / 1000),
        non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        statuses,
        ok: non2xx === 0 && result.errors === 0 && times.length > 0,
      });
    });
    instance.on('response', (_client, status, _bytes, ms) => {
      last = performance.now();
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status >= 200 && status < 300) times.push(ms);
      else non2xx += 1;
    });
  });
}

/**
 * `fn` called back to back by `connections` concurrent workers in this process for `seconds`,
 * each call timed as autocannon times a request (a call that throws counts as an error): the same
 * Sample, for work measured without HTTP (a statement through the pool).
 */
export async function loop(
  fn: () => Promise<unknown>,
  { connections, seconds }: { connections: number; seconds: number },
): Promise<Sample> {
  const times: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let last = t0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        try {
          await fn();
          last = performance.now();
          times.push(last - start);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  return {
    connections,
    ...timing(times, (last - t0) / 1000),
    non2xx: 0,
    errors,
    timeouts: 0,
    statuses: times.length ? { done: times.length } : {},
    ok: errors === 0 && times.length > 0,
  };
}
