/**
 * Chaos: the load's traffic (reads and at least 10 % signed writes) at RATE for DURATION, with a
 * WebSocket client open through it, every write and event journaled on the log (lib/chaos.ts).
 * No threshold: `npm run test:chaos` deletes pods meanwhile and judges the run from the journal
 * and the database (test/chaos/).
 *
 *   k6 run -e TARGET=http://127.0.0.1:3000 -e ADMIN_TOKEN=... -e DURATION=60s loadtests/chaos.ts
 */
import { chaosIteration, chaosOptions, chaosSetup, chaosTeardown, watchEvents } from './lib/chaos.ts';
import { summaryOutputs, type Summary } from './lib/summary.ts';

export const options = chaosOptions();
export const setup = chaosSetup;
export const teardown = chaosTeardown;
export const traffic = chaosIteration;
export const events = watchEvents;
export const handleSummary = (data: Summary) => summaryOutputs('chaos', data);
