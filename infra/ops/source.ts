import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const git = async (cwd: string, ...args: string[]) =>
  (await exec('git', args, { cwd, maxBuffer: 16 * 1024 * 1024 })).stdout.trim();

/**
 * The commit the program and chart in `root` come from: HEAD, with `-dirty` when tracked files
 * differ from it (what ran is then not exactly any commit). Empty when `root` is not a git work tree.
 */
export async function sourceCommit(root: string): Promise<string> {
  try {
    const head = await git(root, 'rev-parse', 'HEAD');
    const dirty = await git(root, 'status', '--porcelain', '--untracked-files=no');
    return dirty ? `${head}-dirty` : head;
  } catch {
    return '';
  }
}

/**
 * Whether rollback may bring back an update from its recorded commit. Without a commit (an update
 * made before commits were recorded, or outside the ops commands) or with a dirty one, the program
 * that ran cannot be restored exactly: refused unless `force`, which then uses today's program.
 */
export function rollbackSource(
  commit: string | undefined,
  force: boolean,
): { ok: true; commit: string | undefined; warning?: string } | { ok: false; reason: string } {
  if (commit && /^[0-9a-f]{40}$/.test(commit)) return { ok: true, commit };
  const why = commit
    ? `its program came from a working tree with uncommitted changes (${commit})`
    : 'it has no recorded source commit (ainp:sourceCommit)';
  if (!force)
    return {
      ok: false,
      reason: `cannot restore what ran at that update: ${why}; pass --force to restore its config with today's program and chart`,
    };
  return { ok: true, commit: undefined, warning: `--force: ${why}; using today's program and chart` };
}

/**
 * A detached git worktree of `root` at `commit`, in a temporary folder, sharing `root`'s
 * node_modules (the inline program must load the same @pulumi/pulumi as this process). `remove()`
 * deletes it. Warns when the commit's lockfile differs from today's.
 */
export async function checkoutCommit(
  root: string,
  commit: string,
  log: (line: string) => void = console.log,
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'ainp-rollback-')), 'src');
  await git(root, 'worktree', 'add', '--detach', '--quiet', dir, commit);
  const remove = async () => {
    await git(root, 'worktree', 'remove', '--force', dir).catch(() => undefined);
    rmSync(path.dirname(dir), { recursive: true, force: true });
  };
  try {
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    const lock = (d: string) =>
      existsSync(path.join(d, 'package-lock.json'))
        ? readFileSync(path.join(d, 'package-lock.json'), 'utf8')
        : '';
    if (lock(dir) !== lock(root))
      log(
        `warning: ${commit.slice(0, 12)} locks other dependency versions; its program runs with today's node_modules`,
      );
  } catch (err) {
    await remove();
    throw err;
  }
  return { dir, remove };
}

/**
 * Records a promotion durably: commits the stack file that holds the promoted digest (only that
 * file), so a fresh clone and a second operator deploy the same image. Pushing the commit is the
 * operator's step (`git push`), as for any other change. Returns the new commit.
 */
export async function commitStackFile(root: string, file: string, message: string): Promise<string> {
  await git(root, 'add', '--', file);
  await git(root, 'commit', '--quiet', '--only', '-m', message, '--', file);
  return git(root, 'rev-parse', 'HEAD');
}
