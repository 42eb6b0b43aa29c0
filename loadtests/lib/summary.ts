import { SUMMARY_DIR, SUMMARY_STDOUT, TARGET } from './env.ts';

type Metric = { type: string; values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> };
export type Summary = { metrics: Record<string, Metric>; state?: { testRunDurationMs: number } };

/**
 * The end-of-run summary: the whole k6 summary as JSON in SUMMARY_DIR/<name>-summary.json (the
 * gate reads it) and a few lines for a person on stdout.
 */
export function summaryOutputs(name: string, data: Summary): Record<string, string> {
  const m = data.metrics;
  const d = m.http_req_duration?.values ?? {};
  const failed = Object.entries(m)
    .flatMap(([metric, v]) => Object.entries(v.thresholds ?? {}).map(([t, r]) => ({ metric, t, ok: r.ok })))
    .filter((x) => !x.ok);
  const lines = [
    `${name} against ${TARGET}`,
    `  requests: ${m.http_reqs?.values.count ?? 0} (${(m.http_reqs?.values.rate ?? 0).toFixed(1)}/s), failed: ${(
      (m.http_req_failed?.values.rate ?? 0) * 100
    ).toFixed(2)}%`,
    `  latency: p50 ${(d.med ?? 0).toFixed(1)} ms, p95 ${(d['p(95)'] ?? 0).toFixed(1)} ms, p99 ${(d['p(99)'] ?? 0).toFixed(1)} ms, max ${(d.max ?? 0).toFixed(1)} ms`,
    `  checks: ${m.checks?.values.passes ?? 0} passed, ${m.checks?.values.fails ?? 0} failed`,
    ...areaLines(m),
    failed.length
      ? `  thresholds FAILED: ${failed.map((f) => `${f.metric} ${f.t}`).join('; ')}`
      : '  thresholds: all passed',
  ];
  // setup_data holds the run's API keys: it stays out of the file.
  const { setup_data: _secrets, ...kept } = data as Summary & { setup_data?: unknown };
  const json = JSON.stringify(kept, null, 2);
  return {
    stdout:
      `${lines.join('\n')}\n` +
      (SUMMARY_STDOUT ? `==ainp-summary-json==\n${json}\n==ainp-summary-end==\n` : ''),
    [`${SUMMARY_DIR}/${name}-summary.json`]: json,
  };
}

/** Checks per area, where a script tags its requests with one (smoke: `checks{area:registry}`). */
function areaLines(m: Summary['metrics']): string[] {
  return Object.entries(m)
    .map(([key, v]) => [/^checks\{area:(.+)\}$/.exec(key)?.[1], v] as const)
    .filter((e): e is readonly [string, (typeof m)[string]] => e[0] !== undefined)
    .map(([area, v]) => `    ${area}: ${v.values.passes ?? 0} passed, ${v.values.fails ?? 0} failed`);
}

/** Latency statistics every script reports (p99 is not in k6's default set). */
export const TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'];
