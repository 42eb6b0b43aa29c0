export type Step = readonly [name: string, run: () => unknown];

/**
 * Runs every step in order, each even when an earlier one failed, then throws one error that
 * names every failed step (the causes kept). Teardown uses it: a step that throws must not leave
 * the servers of the steps after it running.
 */
export async function runEvery(what: string, steps: readonly Step[]): Promise<void> {
  const failures: Error[] = [];
  for (const [name, run] of steps) {
    try {
      await run();
    } catch (err) {
      failures.push(
        new Error(`${name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }),
      );
    }
  }
  if (failures.length)
    throw new AggregateError(failures, `${what}: ${failures.map((f) => f.message).join('; ')}`);
}
