/**
 * What an ops command prints when it fails (issue 36, item 5): one line naming the problem and the
 * next step. The detail is printed once, by whoever has it: Pulumi's own output is streamed while a
 * command runs (its Diagnostics section names every error), so the line repeats none of it; the
 * Automation API's CommandError carries that whole log again (twice, in `stderr` and `err`), which
 * is why its message is never printed as it is.
 */
import { CONCURRENT_HELP, isConcurrentUpdate } from './promotion.js';

/** The cluster stack an app stack names does not exist: deploy it first (the program's own hint). */
export const clusterStackMissing = (name: string) =>
  `clusterStack: the cluster stack ${name} does not exist; deploy it first (npm run up:cluster -- --stack ${name.split('/').pop()})`;

export type FailureContext = {
  /** The command as an operator typed it, for the line's start: `up`, `preview`, `rollback`... */
  command: string;
  stack: string;
  /** A cluster stack (`--cluster`): its config and stack list live in infra/cluster-stack. */
  cluster?: boolean;
};

/** A CommandError's CLI output (what the Automation API collected of stdout and stderr). */
function textOf(err: unknown): string {
  const result = (err as { commandResult: { stderr?: string; stdout?: string } }).commandResult;
  return `${result.stdout ?? ''}\n${result.stderr ?? ''}`;
}

/** The first diagnostic `error:` of Pulumi's output that says more than "update failed". */
function firstDiagnostic(text: string): string | undefined {
  const diagnostics = text.includes('\nDiagnostics:') ? text.slice(text.indexOf('\nDiagnostics:')) : text;
  for (const m of diagnostics.matchAll(/^\s*error: (?:Error: )?(.+)$/gm)) {
    const line = m[1]!.trim();
    if (
      !/^(update|preview|refresh|destroy) failed$/.test(line) &&
      !/^Command failed with exit code/.test(line)
    )
      return line;
  }
  return undefined;
}

/**
 * The line for a failed ops command: `<command> <stack>: <problem>; <next step>`. Recognised: a
 * stack that does not exist, a locked stack, a missing cluster stack, an invalid config (every
 * problem the program listed), policy violations, and any other diagnostic Pulumi printed.
 */
export function failureLine(err: unknown, ctx: FailureContext): string {
  const head = `${ctx.command} ${ctx.cluster ? 'cluster stack' : 'stack'} ${ctx.stack}`;
  // Where the stack files are (pulumi's --cwd): infra/cluster-stack, or AINP_PULUMI_WORKDIR's.
  const workdir = process.env.AINP_PULUMI_WORKDIR;
  const dir = workdir
    ? ctx.cluster
      ? `${workdir}/cluster-stack`
      : workdir
    : ctx.cluster
      ? 'infra/cluster-stack'
      : '';
  const cwd = dir ? ` --cwd ${dir}` : '';
  const preview = `npm run preview -- --stack ${ctx.stack}${ctx.cluster ? ' --cluster' : ''}`;
  if (isConcurrentUpdate(err)) return `${head}: ${CONCURRENT_HELP}`;
  if (/ENOENT: pulumi\b/.test(String((err as Error)?.message)))
    return `${head}: the pulumi CLI is not on PATH; build or copy it with bash scripts/tools.sh cluster and put .tools/bin first on PATH`;
  // The commands' own errors are written as one line with the next step already.
  if (!(err as { commandResult?: unknown }).commandResult)
    return (err instanceof Error ? err.message : String(err)).trim();
  const text = textOf(err);
  const notFound = /no stack named '([^']+)' found/.exec(text);
  if (notFound) {
    const backend = process.env.PULUMI_BACKEND_URL ?? 'the backend pulumi is logged in to';
    return (
      `${head}: no stack named '${notFound[1]}' in ${backend}; ` +
      `list the stacks with pulumi stack ls${cwd}, or create it with pulumi stack init ${notFound[1]}${cwd}`
    );
  }
  const unknownCluster = /unknown stack "([^"/]+\/ainp-cluster\/[^"]+)"/.exec(text);
  if (unknownCluster) return `${head}: ${clusterStackMissing(unknownCluster[1]!)}`;
  const invalid = /invalid config for (?:cluster )?stack \S+:\n((?:[ \t]+- .+\n?)+)/.exec(text);
  if (invalid) {
    const problems = [
      ...new Set(
        invalid[1]!
          .split('\n')
          .map((l) => l.replace(/^\s+- /, '').trim())
          .filter(Boolean),
      ),
    ];
    return (
      `${head}: invalid config: ${problems.join('; ')}; ` +
      `change it (pulumi config set KEY VALUE --stack ${ctx.stack}${cwd}), then check it with ${preview}`
    );
  }
  if (/Policy Violations:|\[mandatory\]/.test(text))
    return `${head}: the policy pack refused resources (the violations are listed above); fix the program or chart, then check it with ${preview}`;
  const diagnostic = firstDiagnostic(text);
  if (diagnostic) return `${head}: ${diagnostic}; see the output above, then check a fix with ${preview}`;
  const first = text.trim().split('\n')[0] ?? 'failed';
  return `${head}: ${first}`;
}

/** kubectl's own error out of a failed child process (execFile's error carries its stderr). */
export function kubectlError(err: unknown): string {
  const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
  const lines = stderr.split('\n').filter((l) => l.trim() && !/^\s*(I|W)\d{4} /.test(l));
  return lines.length ? lines.join(' ') : (err as Error).message.split('\n')[0]!;
}
