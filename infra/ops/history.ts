import type { Source } from './source.js';

/**
 * Decisions over a stack's update history (`pulumi stack history --json`, which the Automation
 * API's `stack.history()` parses into the same shape). Pure: tested with a history recorded from
 * the CLI in the cluster lane (test/fixtures/pulumi).
 *
 * An update is *good* when it succeeded and the checks after it passed; promotion records that by
 * setting the stack tag `ainp:last-good-version` to the update's start time after prod's smoke
 * passed. The start time names an update on every backend; a version number does not (a
 * self-managed backend reports 0 for all of them).
 */
export type HistoryConfig = Record<string, { value: string; secret?: boolean }>;
export type HistoryEntry = {
  version: number;
  kind: string;
  result: string;
  message?: string;
  startTime: string | Date;
  config?: HistoryConfig;
};

export const LAST_GOOD_TAG = 'ainp:last-good-version';
export const PROJECT = 'ainp';

/** The most updates one `pulumi stack history` call returns here (the CLI pages at 10 by default). */
export const HISTORY_PAGE = 100;

/**
 * The whole history, page by page: `pulumi stack history` without `--page-size` shows only the
 * newest 10 updates, and a rollback target or a last-good update may be older. Secrets stay hidden.
 */
export async function wholeHistory(
  page: (pageSize: number, page: number, showSecrets: boolean) => Promise<unknown[]>,
): Promise<HistoryEntry[]> {
  const all: HistoryEntry[] = [];
  for (let n = 1; ; n++) {
    const entries = (await page(HISTORY_PAGE, n, false)) as HistoryEntry[];
    all.push(...entries);
    if (entries.length < HISTORY_PAGE) return all;
  }
}

/** An update's start time to the second (how the history reports it): its name in tags and --to. */
export const updateId = (e: HistoryEntry) => new Date(e.startTime).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The source an update recorded at the end of its message (`upRecorded` writes it), else, for an
 * update made before that, in its config (ainp:sourceCommit, `-dirty` without the files).
 */
const SOURCE_IN_MESSAGE = / \[source ([0-9a-f]{40})(?: dirty: ([^\]]*))?\]$/;
const MAX_DIRTY_NAMED = 20;

export function withSource(message: string, source: Source | undefined): string {
  if (!source) return message;
  const named = source.dirty.slice(0, MAX_DIRTY_NAMED);
  const more = source.dirty.length - named.length;
  const dirty = source.dirty.length ? ` dirty: ${named.join(', ')}${more ? ` and ${more} more` : ''}` : '';
  return `${message} [source ${source.commit}${dirty}]`;
}

export function recordedSource(e: HistoryEntry): Source | undefined {
  const m = e.message ? SOURCE_IN_MESSAGE.exec(e.message) : null;
  if (m) return { commit: m[1]!, dirty: m[2] ? m[2].split(', ') : [] };
  const old = e.config?.[`${PROJECT}:sourceCommit`]?.value;
  if (!old) return undefined;
  const dirty = old.endsWith('-dirty');
  return { commit: old.replace(/-dirty$/, ''), dirty: dirty ? ['(files not recorded)'] : [] };
}

const isSucceededUpdate = (e: HistoryEntry) => e.kind === 'update' && e.result === 'succeeded';

const time = (e: HistoryEntry) => new Date(e.startTime).getTime();

/**
 * Newest first, each entry with its number. Pulumi Cloud numbers a stack's updates 1, 2, 3, …; a
 * self-managed backend (file://, S3, Azure Blob) reports `"version": 0` for every one, so where the
 * numbers are not distinct and positive each entry gets the number Pulumi Cloud would have given it:
 * its position in the history, oldest = 1 (by start time; `pulumi stack history` lists newest first,
 * which breaks a tie).
 */
export function newestFirst(history: HistoryEntry[]): HistoryEntry[] {
  const versions = new Set(history.map((e) => e.version));
  if (versions.size === history.length && history.every((e) => e.version > 0))
    return [...history].sort((a, b) => b.version - a.version);
  const ordered = history.map((e, i) => ({ e, i })).sort((a, b) => time(b.e) - time(a.e) || a.i - b.i);
  return ordered.map(({ e }, n) => ({ ...e, version: ordered.length - n }));
}

/** The name of the newest update (what promotion tags as last good after prod's checks). */
export function newestUpdateId(history: HistoryEntry[]): string | undefined {
  const newest = newestFirst(history).find((e) => e.kind === 'update');
  return newest && updateId(newest);
}

/**
 * The update to roll back to. With `to`, exactly that update (a version number as listed, or its
 * start time), which must be a succeeded update. Otherwise the update named by the last-good tag
 * (its start time; a version number from before) when it is a succeeded update older than the
 * newest one; failing that, the newest succeeded update before the newest update (the one being
 * undone).
 */
export function rollbackTarget(
  history: HistoryEntry[],
  opts: { to?: number | string; lastGoodTag?: string } = {},
): { ok: true; entry: HistoryEntry } | { ok: false; reason: string } {
  const all = newestFirst(history);
  const named = (id: number | string) => (e: HistoryEntry) =>
    typeof id === 'number' || /^[0-9]+$/.test(id) ? e.version === Number(id) : updateId(e) === id;
  if (opts.to !== undefined) {
    const matches = all.filter(named(opts.to));
    const what = typeof opts.to === 'number' ? `version ${opts.to}` : `the update started ${opts.to}`;
    const entry = matches[0];
    if (!entry) return { ok: false, reason: `${what} is not in the stack history` };
    if (matches.length > 1)
      return { ok: false, reason: `${matches.length} updates started ${opts.to}: name one by version` };
    if (!isSucceededUpdate(entry))
      return { ok: false, reason: `${what} is a ${entry.result} ${entry.kind}, not a succeeded update` };
    return { ok: true, entry };
  }
  const updates = all.filter((e) => e.kind === 'update');
  const current = updates[0];
  if (!current) return { ok: false, reason: 'the stack has no update to roll back' };
  const older = updates.filter((e) => e.version < current.version && isSucceededUpdate(e));
  const tagged = opts.lastGoodTag ? older.find(named(opts.lastGoodTag)) : undefined;
  const entry = tagged ?? older[0];
  if (!entry) return { ok: false, reason: `no succeeded update before version ${current.version}` };
  return { ok: true, entry };
}

export type RestorePlan = {
  version: number;
  /** The update's start time, its name on every backend. */
  id: string;
  /** Plain config to set, as it was at that update. */
  set: Record<string, string>;
  /** Plain keys that did not exist then. */
  remove: string[];
  /** Secret keys: history shows no value, so they are left as they are. */
  secretsKept: string[];
  imageDigest: string | undefined;
};

/**
 * What to change so the stack's config is what it was at `target`: the project's plain keys are
 * restored (the image digest among them); secret keys cannot be read back and are kept.
 */
export function restorePlan(target: HistoryEntry, current: HistoryConfig): RestorePlan {
  // sourceCommit is where older updates recorded their commit: about the program, not its config.
  const ours = (k: string) => k.startsWith(`${PROJECT}:`) && k !== `${PROJECT}:sourceCommit`;
  const then = Object.entries(target.config ?? {}).filter(([k]) => ours(k));
  const set: Record<string, string> = {};
  const secretsKept: string[] = [];
  for (const [k, v] of then) {
    if (v.secret) secretsKept.push(k);
    else if (current[k]?.value !== v.value || current[k]?.secret) set[k] = v.value;
  }
  const thenKeys = new Set(then.map(([k]) => k));
  const remove = Object.entries(current)
    .filter(([k, v]) => ours(k) && !v.secret && !thenKeys.has(k))
    .map(([k]) => k);
  const digest = target.config?.[`${PROJECT}:imageDigest`]?.value;
  return {
    version: target.version,
    id: updateId(target),
    set,
    remove,
    secretsKept,
    imageDigest: digest || undefined,
  };
}

export type StepName =
  'staging-up' | 'staging-health' | 'staging-gate' | 'prod-up' | 'prod-health' | 'prod-smoke';
export const PROMOTION_STEPS: StepName[] = [
  'staging-up',
  'staging-health',
  'staging-gate',
  'prod-up',
  'prod-health',
  'prod-smoke',
];

/**
 * What promotion does after a step. Before prod changes, a failure stops it (prod untouched);
 * once `prod-up` has run (even a failed one may have changed resources), a failure rolls prod back.
 */
export function afterStep(
  step: StepName,
  ok: boolean,
): 'continue' | 'done' | 'stop-prod-untouched' | 'rollback-prod' {
  const i = PROMOTION_STEPS.indexOf(step);
  const prodChanged = i >= PROMOTION_STEPS.indexOf('prod-up');
  if (!ok) return prodChanged ? 'rollback-prod' : 'stop-prod-untouched';
  return i === PROMOTION_STEPS.length - 1 ? 'done' : 'continue';
}

/** The digest promotion carries from staging to prod: staging's output, which must be a digest. */
export function promotionDigest(stagingOutputs: Record<string, { value: unknown }>): string {
  const digest = stagingOutputs.imageDigest?.value;
  if (typeof digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(digest))
    throw new Error(`staging has no image digest to promote (imageDigest output: ${JSON.stringify(digest)})`);
  return digest;
}
