import { readSlo, type Slo } from '../slo.js';

/**
 * The gate's decision, from what k6 left behind: its exit code and its JSON summary. Pure, so it
 * is tested with recorded summaries. k6 exits 99 when a threshold fails and 107/108 when setup
 * aborts (an unhealthy target); a missing summary means the run never finished.
 */
export type K6Summary = {
  metrics: Record<
    string,
    { type: string; values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }
  >;
};
export type K6Run = {
  script: string;
  exitCode: number;
  summary: K6Summary | undefined;
  /** The HTML report k6's web dashboard exported, when it wrote one. */
  report?: string | undefined;
  /** Why the run could not be trusted or never started (an in-cluster Job's stuck pod, an old k6). */
  problem?: string | undefined;
};
export type Verdict = { pass: boolean; reasons: string[] };

const EXIT_MEANING: Record<number, string> = {
  99: 'thresholds failed',
  105: 'the script could not be run',
  107: 'the script threw',
  108: 'the test was aborted (setup refused the target or a threshold aborted it)',
};

export function runVerdict(run: K6Run, slo: Slo = readSlo()): Verdict {
  const reasons: string[] = run.problem ? [`${run.script}: ${run.problem}`] : [];
  if (!run.summary) reasons.push(`${run.script}: no summary (k6 exited ${run.exitCode})`);
  for (const [metric, m] of Object.entries(run.summary?.metrics ?? {}))
    for (const [threshold, r] of Object.entries(m.thresholds ?? {}))
      if (!r.ok)
        reasons.push(
          `${run.script}: threshold ${metric} ${threshold} failed (${describe(metric, m.values)})`,
        );
  // The SLO applies whatever thresholds the run was given (a script or summary from an older SLO).
  const failed = run.summary?.metrics.http_req_failed;
  const errorRate = failed?.values.rate ?? 0;
  if (errorRate >= slo.availability.errorRate && !Object.values(failed?.thresholds ?? {}).some((t) => !t.ok))
    reasons.push(
      `${run.script}: ${fmt(errorRate * 100, 2)}% of requests failed, not under the SLO's ${slo.availability.errorRate * 100}%`,
    );
  const checks = run.summary?.metrics.checks?.values;
  const fails = checks?.fails ?? 0;
  if (fails > 0) reasons.push(`${run.script}: ${fails} of ${(checks?.passes ?? 0) + fails} checks failed`);
  // 99 is "thresholds failed", already listed one by one; any other exit code says something more.
  if (run.exitCode !== 0 && !(run.exitCode === 99 && reasons.some((r) => r.includes('threshold'))))
    reasons.push(`${run.script}: k6 exited ${run.exitCode} (${EXIT_MEANING[run.exitCode] ?? 'error'})`);
  if (run.summary && !((run.summary.metrics.http_reqs?.values.count ?? 0) > 0))
    reasons.push(`${run.script}: sent no request`);
  return { pass: reasons.length === 0, reasons };
}

function describe(metric: string, v: Record<string, number>): string {
  if (metric === 'http_req_duration') return `p95 ${fmt(v['p(95)'])} ms, p99 ${fmt(v['p(99)'])} ms`;
  if ('rate' in v) return `rate ${fmt(v.rate, 4)}`;
  return Object.entries(v)
    .map(([k, x]) => `${k} ${fmt(x)}`)
    .join(', ');
}

const fmt = (n: number | undefined, digits = 1) => (n === undefined ? '?' : n.toFixed(digits));

/** The gate: smoke must pass before load runs; both must pass. */
export function gateVerdict(runs: K6Run[], slo: Slo = readSlo()): Verdict {
  if (!runs.length) return { pass: false, reasons: ['nothing ran'] };
  const reasons = runs.flatMap((r) => runVerdict(r, slo).reasons);
  return { pass: reasons.length === 0, reasons };
}

/** The numbers a person wants from a load run. */
export function loadNumbers(s: K6Summary) {
  const d = s.metrics.http_req_duration?.values ?? {};
  return {
    requests: s.metrics.http_reqs?.values.count ?? 0,
    rate: s.metrics.http_reqs?.values.rate ?? 0,
    p95Ms: d['p(95)'] ?? NaN,
    p99Ms: d['p(99)'] ?? NaN,
    errorRate: s.metrics.http_req_failed?.values.rate ?? NaN,
  };
}
