/** What every script reads from the environment (`k6 run -e NAME=value` or the process env). */
export const TARGET = (__ENV.TARGET || 'http://127.0.0.1:3000').replace(/\/$/, '');
/** The broker's admin token: smoke and load create (and remove) their own API keys with it. */
export const ADMIN_TOKEN = __ENV.ADMIN_TOKEN || '';
/** Where handleSummary writes `<script>-summary.json` (the gate reads it). */
export const SUMMARY_DIR = __ENV.SUMMARY_DIR || '.';
/** In a gate Job the summary also goes to the log, between markers (infra/ops/gate-job.ts). */
export const SUMMARY_STDOUT = __ENV.SUMMARY_STDOUT === '1';
