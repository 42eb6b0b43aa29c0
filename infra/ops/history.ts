/**
 * Decisions over a stack's update history (`pulumi stack history --json`, which the Automation
 * API's `stack.history()` parses into the same shape). Pure: tested with a hand-written
 * history in that shape (test/fixtures/pulumi), not yet one recorded from the CLI.
 *
 * An update is *good* when it succeeded and the checks after it passed; promotion records that by
 * setting the stack tag `ainp:last-good-version` to the update's version after prod's smoke passed.
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

/** The number of the newest entry (what promotion tags as last good after prod's checks). */
export function newestVersion(history: HistoryEntry[]): number | undefined {
  return newestFirst(history)[0]?.version;
}

/**
 * The update to roll back to. With `to`, exactly that version, which must be a succeeded update.
 * Otherwise the version in the last-good tag when it is a succeeded update older than the newest
 * one; failing that, the newest succeeded update before the newest update (the one being undone).
 */
export function rollbackTarget(
  history: HistoryEntry[],
  opts: { to?: number; lastGoodTag?: string } = {},
): { ok: true; entry: HistoryEntry } | { ok: false; reason: string } {
  const all = newestFirst(history);
  if (opts.to !== undefined) {
    const entry = all.find((e) => e.version === opts.to);
    if (!entry) return { ok: false, reason: `version ${opts.to} is not in the stack history` };
    if (!isSucceededUpdate(entry))
      return {
        ok: false,
        reason: `version ${opts.to} is a ${entry.result} ${entry.kind}, not a succeeded update`,
      };
    return { ok: true, entry };
  }
  const updates = all.filter((e) => e.kind === 'update');
  const current = updates[0];
  if (!current) return { ok: false, reason: 'the stack has no update to roll back' };
  const older = updates.filter((e) => e.version < current.version && isSucceededUpdate(e));
  const tagged = opts.lastGoodTag ? older.find((e) => String(e.version) === opts.lastGoodTag) : undefined;
  const entry = tagged ?? older[0];
  if (!entry) return { ok: false, reason: `no succeeded update before version ${current.version}` };
  return { ok: true, entry };
}

export type RestorePlan = {
  version: number;
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
  const ours = (k: string) => k.startsWith(`${PROJECT}:`);
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
  return { version: target.version, set, remove, secretsKept, imageDigest: digest || undefined };
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
