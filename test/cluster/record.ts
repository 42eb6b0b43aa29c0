import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ControlPlane } from '../../infra/cluster/control-plane.js';
import { healthQueries } from '../../infra/ops/kubectl.js';

/**
 * Writes what the real tools print in the cluster lane into test/fixtures (RECORD_FIXTURES=1, see
 * scripts/record-fixtures.sh): the kubectl JSON of each health query, exactly the queries `npm run
 * health` makes, and `pulumi stack history --json`. The tests of the pure decisions read these.
 */
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
const exec = promisify(execFile);

/** Drops what only identifies this run's machine (uids, resource versions, managed fields). */
function scrub(o: any): any {
  if (Array.isArray(o)) return o.map(scrub);
  if (!o || typeof o !== 'object') return o;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (['managedFields', 'uid', 'resourceVersion', 'selfLink'].includes(k)) continue;
    out[k] = scrub(v);
  }
  return out;
}

export const recordFixtures = {
  async kubectl(cp: ControlPlane, namespace: string, release: string, state: string) {
    const dir = path.join(FIXTURES, 'kubectl', state);
    mkdirSync(dir, { recursive: true });
    const queries = healthQueries({ namespace, release, migrationJob: `${release}-migrate` });
    for (const [name, args] of Object.entries(queries)) {
      const json = await cp.kubectl([...args, '-o', 'json']);
      writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(scrub(JSON.parse(json)), null, 2)}\n`);
    }
  },

  async history(workDir: string, stack: string) {
    const { stdout } = await exec('pulumi', ['stack', 'history', '--json', '--stack', stack], {
      cwd: workDir,
      env: process.env,
    });
    const dir = path.join(FIXTURES, 'pulumi');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, `${stack}-history.json`),
      `${JSON.stringify(JSON.parse(stdout), null, 2)}\n`,
    );
  },
};
