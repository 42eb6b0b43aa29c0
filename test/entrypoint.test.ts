import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTestStack, type TestStack } from './helpers/stack.js';

/** The image runs `node dist/app/main.js <role>`; the same built file is run here on the host. */
let stack: TestStack;
beforeAll(async () => {
  if (!existsSync('dist/app/main.js')) throw new Error('dist/ is not built: npm run build (npm test does)');
  stack = await createTestStack();
});

function node(args: string[], env: Record<string, string | undefined>) {
  const child = spawn(process.execPath, ['dist/app/main.js', ...args], {
    env: { PATH: process.env.PATH, ...env, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, out })),
  );
}

describe('dist/app/main.js (the image entry point)', () => {
  it('runs the migration Job role, then a CronJob role, each exiting 0 with JSON logs', async () => {
    const env = stack.env({ LOG_LEVEL: 'info', MIGRATIONS_DIR: 'migrations' });
    const migrate = await node(['migrate', 'up'], env);
    expect(migrate.code).toBe(0);
    expect(JSON.parse(migrate.out.trim().split('\n').pop()!)).toMatchObject({ msg: 'migrations applied' });
    const job = await node(['job', 'finalizer'], env);
    expect(job.code).toBe(0);
    const run = job.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'job run');
    expect(run).toMatchObject({ job: 'finalizer', outcome: 'success', counts: { claimed: 0 } });
    expect(job.out).not.toContain(stack.databaseUrl);
  });
});
