/**
 * `npm run up -- --stack NAME [--message TEXT]`: `pulumi up` of a stack as the ops commands run it,
 * with the source commit recorded in the update (ainp:sourceCommit), so `npm run rollback` can bring
 * back this program and chart later. Prod refuses a config without a promoted image digest (the
 * program's own check): prod changes only through `npm run promote` and `npm run rollback`.
 */
import { flags } from './args.js';
import { print, selectStack, upRecorded } from './pulumi-stack.js';

const USAGE = 'npm run up -- --stack NAME [--message TEXT]';

async function main() {
  const f = flags({ stack: { type: 'string' }, message: { type: 'string' } }, USAGE);
  if (!f.stack) {
    process.stderr.write(`--stack is required\nusage: ${USAGE}\n`);
    process.exit(2);
  }
  try {
    const stack = await selectStack(f.stack);
    const res = await upRecorded(stack, { onOutput: print, message: f.message ?? `up ${f.stack}` });
    process.exit(res.summary.result === 'succeeded' ? 0 : 1);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
