import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, TOOLS_BIN } from '../../infra/cluster/control-plane.js';

/** A fixed passphrase for a throw-away file:// backend on loopback: a test value, not a secret. */
const PASSPHRASE = 'ainp-loopback-test-passphrase';

/**
 * A Pulumi work directory for a lane: both projects' Pulumi.yaml (and the given stack files of each)
 * copied, their programs linked (the CLI checks that `main` exists, even for an inline program), a
 * file:// backend in state/; process.env then points every command the lane runs at it, at the
 * lane's cluster and at the pinned tools. Returns the directory; the caller removes it.
 */
export function pulumiWorkDir(o: { prefix: string; kubeconfig: string; stackFiles?: string[] }): string {
  const work = mkdtempSync(path.join(os.tmpdir(), o.prefix));
  mkdirSync(path.join(work, 'state'));
  const files = ['Pulumi.yaml', ...(o.stackFiles ?? [])];
  for (const f of files) copyFileSync(path.join(ROOT, f), path.join(work, f));
  symlinkSync(path.join(ROOT, 'infra'), path.join(work, 'infra'));
  // The cluster project beside it, on the same file:// backend (where StackReferences read).
  mkdirSync(path.join(work, 'cluster-stack'));
  for (const f of files)
    copyFileSync(path.join(ROOT, 'infra/cluster-stack', f), path.join(work, 'cluster-stack', f));
  symlinkSync(path.join(ROOT, 'infra/cluster-stack/index.ts'), path.join(work, 'cluster-stack/index.ts'));
  Object.assign(process.env, {
    PATH: `${TOOLS_BIN}:${process.env.PATH}`,
    KUBECONFIG: o.kubeconfig,
    KUBECTL: path.join(TOOLS_BIN, 'kubectl'),
    PULUMI_BACKEND_URL: `file://${path.join(work, 'state')}`,
    PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
    PULUMI_HOME: path.join(work, 'home'),
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
    AINP_PULUMI_WORKDIR: work,
  });
  return work;
}
