/**
 * `npm run preview -- --stack NAME [--cluster]`: `pulumi preview` of an app stack (or, with
 * --cluster, of a cluster stack) as `npm run up` would run it: the same inline program, the same
 * work directory and stack files, and the project's policy packs (a violation fails the preview).
 * It needs no Node.js language host, only the CLI and the providers, so it runs with the CLI that
 * scripts/tools.sh builds as well as with a released one. Prints the plan and a one-line summary of
 * the changes; exits 0 when the preview succeeds, 1 when it fails (a config the program refuses, a
 * policy violation).
 */
import { flags } from './args.js';
import { failureLine } from './errors.js';
import { policyPacks } from './policy-packs.js';
import { createOrSelectClusterStack, print, selectStack } from './pulumi-stack.js';

const USAGE = 'npm run preview -- --stack NAME [--cluster]';

/** `create 3, update 1, same 20` from the engine's change summary (the kinds it reports). */
export function changeLine(summary: Record<string, number | undefined>): string {
  const parts = Object.entries(summary)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([kind, n]) => `${kind} ${n}`);
  return parts.length ? parts.join(', ') : 'no resources';
}

async function main() {
  const f = flags({ stack: { type: 'string' }, cluster: { type: 'boolean' } }, USAGE);
  if (!f.stack) {
    process.stderr.write(`--stack is required\nusage: ${USAGE}\n`);
    process.exit(2);
  }
  try {
    const stack = f.cluster ? await createOrSelectClusterStack(f.stack) : await selectStack(f.stack);
    const res = await stack.preview({ onOutput: print, policyPacks: await policyPacks() });
    console.log(
      `preview of ${f.cluster ? 'cluster ' : ''}stack ${f.stack}: ${changeLine(res.changeSummary)}`,
    );
    process.exit(0);
  } catch (err) {
    console.error(failureLine(err, { command: 'preview', stack: f.stack, cluster: f.cluster }));
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
