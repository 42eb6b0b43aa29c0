import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const git = async (cwd: string, ...args: string[]) =>
  (await exec('git', args, { cwd, maxBuffer: 16 * 1024 * 1024 })).stdout.trim();

/** What an update's program and chart came from: a commit, and the tracked files that differed from it. */
export type Source = { commit: string; dirty: string[] };

/**
 * Stack files (Pulumi.<stack>.yaml, here and in infra/cluster-stack): the ops commands write them
 * (`setConfig`, the promoted digest, secrets an operator set) and each update keeps its own config
 * in the stack history, which rollback restores from there. They say nothing about the program.
 */
const STACK_FILE = /(^|\/)Pulumi\.[^/]+\.yaml$/;

/**
 * The commit the program and chart in `root` come from: HEAD, and the tracked files other than
 * stack files that differ from it (what ran is then not exactly any commit). Undefined when `root`
 * is not a git work tree.
 */
export async function sourceCommit(root: string): Promise<Source | undefined> {
  try {
    const commit = await git(root, 'rev-parse', 'HEAD');
    // Staged and unstaged changes of tracked files (untracked files are not part of any commit).
    const changed = await git(root, 'diff', '--name-only', '--no-renames', 'HEAD');
    const dirty = changed.split('\n').filter((file) => file && !STACK_FILE.test(file));
    return { commit, dirty };
  } catch {
    return undefined;
  }
}

/**
 * Whether rollback may bring back an update from its recorded source. Without a commit (an update
 * made before commits were recorded, or outside the ops commands) or with a dirty one, the program
 * that ran cannot be restored exactly: refused unless `force`, which then uses today's program.
 */
export function rollbackSource(
  source: Source | undefined,
  force: boolean,
): { ok: true; commit: string | undefined; warning?: string } | { ok: false; reason: string } {
  if (source && /^[0-9a-f]{40}$/.test(source.commit) && !source.dirty.length)
    return { ok: true, commit: source.commit };
  const why = source
    ? `its program came from commit ${source.commit} with uncommitted changes to ${source.dirty.join(', ')}`
    : 'it has no recorded source commit';
  // Dirty: the next update made from a clean tree can be restored; nothing can bring these back.
  const hint = source ? 'updates from a clean tree can be restored; ' : '';
  if (!force)
    return {
      ok: false,
      reason: `cannot restore what ran at that update: ${why}; ${hint}pass --force to restore its config with today's program and chart`,
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
