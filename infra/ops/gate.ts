/**
 * `npm run gate -- --target URL`: k6 smoke, then (if it passed) k6 load, against one broker. Exits
 * 0 when every check and every SLO threshold passed, 1 otherwise, with the reasons.
 *
 *   --target URL            the broker (required)
 *   --admin-token TOKEN     or ADMIN_TOKEN in the environment, or --admin-token-file FILE
 *   --duration 50s          the load step's duration (default: the SLO file's)
 *   --rate N                arrival rate (default: the SLO file's target)
 *   --pou-m N               committee size of the target (default 5)
 *   --summary-dir DIR       where the k6 JSON summaries go (default: a temp folder)
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { flags } from './args.js';
import { gateVerdict, loadNumbers, type K6Run } from './gate-verdict.js';
import type { Scheduling } from '../config.js';
import { runGateJob } from './gate-job.js';
import { runK6 } from './k6.js';

const USAGE =
  'npm run gate -- --target URL [--admin-token T | --admin-token-file F] [--duration 50s] [--rate N] [--pou-m N] [--summary-dir D]';

export async function gate(opts: {
  target: string;
  adminToken: string;
  duration?: string;
  rate?: string;
  pouM?: string;
  summaryDir?: string;
  /** Run k6 as Jobs beside the broker (gate-job.ts) instead of here: the target is its Service. */
  inCluster?: {
    context?: string;
    namespace: string;
    release: string;
    secret: string;
    image: string;
    /** The stack's nodeSelector and tolerations: the Job runs where the broker runs. */
    scheduling?: Scheduling;
  };
}): Promise<{ pass: boolean; reasons: string[]; runs: K6Run[]; summaryDir: string }> {
  const env: Record<string, string> = { TARGET: opts.target, ADMIN_TOKEN: opts.adminToken };
  if (opts.pouM) env.POU_M = opts.pouM;
  const runId = Date.now().toString(36);
  // Both runs' summaries and reports in one folder, here or from the Jobs' logs.
  const summaryDir = opts.summaryDir ?? mkdtempSync(path.join(os.tmpdir(), 'ainp-gate-'));
  const runK6Here = (script: 'smoke' | 'load', e: Record<string, string>) => {
    if (!opts.inCluster) return runK6(script, e, summaryDir);
    // In the cluster: TARGET is the Service and ADMIN_TOKEN comes from the broker's Secret.
    const { TARGET: _t, ADMIN_TOKEN: _a, ...rest } = e;
    return runGateJob({ ...opts.inCluster, script, runId, env: rest, summaryDir });
  };
  const runs = [await runK6Here('smoke', env)];
  if (gateVerdict(runs).pass) {
    const loadEnv = {
      ...env,
      ...(opts.duration ? { DURATION: opts.duration } : {}),
      ...(opts.rate ? { RATE: opts.rate } : {}),
    };
    runs.push(await runK6Here('load', loadEnv));
  }
  const verdict = gateVerdict(runs);
  return { ...verdict, pass: verdict.pass && runs.length === 2, runs, summaryDir };
}

async function main() {
  const f = flags(
    {
      target: { type: 'string' },
      'admin-token': { type: 'string' },
      'admin-token-file': { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string' },
      'pou-m': { type: 'string' },
      'summary-dir': { type: 'string' },
    },
    USAGE,
  );
  if (!f.target || !/^https?:\/\//.test(f.target)) {
    process.stderr.write(`--target must be an http(s) URL\nusage: ${USAGE}\n`);
    process.exit(2);
  }
  const adminToken =
    f['admin-token'] ??
    (f['admin-token-file'] ? readFileSync(f['admin-token-file'], 'utf8').trim() : process.env.ADMIN_TOKEN);
  if (!adminToken) {
    process.stderr.write(
      `an admin token is required (--admin-token, --admin-token-file or ADMIN_TOKEN)\nusage: ${USAGE}\n`,
    );
    process.exit(2);
  }
  const result = await gate({
    target: f.target,
    adminToken,
    duration: f.duration,
    rate: f.rate,
    pouM: f['pou-m'],
    summaryDir: f['summary-dir'],
  });
  const load = result.runs.find((r) => r.script === 'load')?.summary;
  if (load) {
    const n = loadNumbers(load);
    console.log(
      `gate load: ${n.requests} requests at ${n.rate.toFixed(1)}/s, p95 ${n.p95Ms.toFixed(1)} ms, p99 ${n.p99Ms.toFixed(1)} ms, errors ${(n.errorRate * 100).toFixed(2)}%`,
    );
  }
  const summaries = result.runs.filter((r) => r.summary).map((r) => `${r.script}-summary.json`);
  console.log(`gate summaries: ${result.summaryDir}${summaries.length ? ` (${summaries.join(', ')})` : ''}`);
  for (const r of result.runs) if (r.report) console.log(`gate ${r.script} report: ${r.report}`);
  if (result.pass) console.log('gate: PASS');
  else console.log(`gate: FAIL\n${result.reasons.map((r) => `  - ${r}`).join('\n')}`);
  process.exit(result.pass ? 0 : 1);
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
