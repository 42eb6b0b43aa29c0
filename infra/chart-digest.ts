import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A digest of every file of a local chart (paths and contents, in a fixed order). The Kubernetes
 * provider's Helm Release notices a change to a local chart only when Chart.yaml's version changes
 * (pulumi-kubernetes#2672): a template edited without a version bump would never be deployed, and
 * a rollback to an older chart would change nothing. The program passes this digest as a chart
 * value, so any change to the chart's files upgrades the release.
 */
export function chartDigest(dir: string): string {
  const hash = createHash('sha256');
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const p = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile())
        hash
          .update(`${p}\0`)
          .update(readFileSync(path.join(dir, p)))
          .update('\0');
    }
  };
  walk('');
  return `sha256:${hash.digest('hex')}`;
}
