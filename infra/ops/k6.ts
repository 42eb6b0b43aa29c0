import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { K6Run, K6Summary } from './gate-verdict.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** k6, built from its Go module by scripts/tools.sh into the project's tools folder. */
export const K6 = process.env.K6_BIN ?? path.join(ROOT, '.tools/bin/k6');

/**
 * Runs one k6 script (thin: spawn, wait, read the summary it wrote). Output goes to this terminal.
 * Each run also exports k6's web dashboard as a self-contained HTML report beside its summary
 * (`<script>-report.html`), with the dashboard's HTTP server off (port -1), so the run ends by itself.
 * k6 skips the report for a run too short to have data (a smoke run of a few seconds).
 */
export async function runK6(
  script: string,
  env: Record<string, string>,
  summaryDir?: string,
): Promise<K6Run> {
  if (!existsSync(K6)) throw new Error(`k6 is not built: run scripts/tools.sh k6 (looked for ${K6})`);
  const dir = summaryDir ?? mkdtempSync(path.join(os.tmpdir(), 'ainp-k6-'));
  mkdirSync(dir, { recursive: true });
  const args = ['run', '--quiet', '--no-color', path.join(ROOT, 'loadtests', `${script}.ts`)];
  for (const [k, v] of Object.entries({ ...env, SUMMARY_DIR: dir })) args.push('-e', `${k}=${v}`);
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn(K6, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        K6_WEB_DASHBOARD: 'true',
        K6_WEB_DASHBOARD_PORT: '-1',
        K6_WEB_DASHBOARD_EXPORT: path.join(dir, `${script}-report.html`),
      },
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  const file = path.join(dir, `${script}-summary.json`);
  const summary = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as K6Summary) : undefined;
  const report = path.join(dir, `${script}-report.html`);
  return { script, exitCode, summary, report: existsSync(report) ? report : undefined };
}
