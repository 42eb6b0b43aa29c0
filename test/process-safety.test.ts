import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Runs a few lines of TypeScript with `exitOnUncaught` installed, as main.ts installs it. */
function runWithSafety(body: string): Promise<{ code: number | null; out: string }> {
  const script = `
    import { createLogger, exitOnUncaught } from './app/logger.ts';
    exitOnUncaught(createLogger({ level: 'fatal', pretty: false }));
    setTimeout(() => { console.log('still running'); process.exit(0); }, 2000);
    ${body}
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

/** The one fatal (level 60) JSON log line of a run. */
const fatalLine = (out: string) =>
  JSON.parse(
    out
      .trim()
      .split('\n')
      .find((l) => l.includes('"level":60'))!,
  );

describe('process-level safety (main.ts)', () => {
  it('logs an unhandled rejection at fatal and exits 1', async () => {
    const { code, out } = await runWithSafety(`Promise.reject(new Error('lost promise'));`);
    expect(code).toBe(1);
    const line = fatalLine(out);
    expect(line).toMatchObject({ level: 60, msg: 'unhandled promise rejection: exiting' });
    expect(line.err.message).toBe('lost promise');
    expect(out).not.toContain('still running');
  });

  it('logs an uncaught exception at fatal and exits 1', async () => {
    const { code, out } = await runWithSafety(
      `setTimeout(() => { throw new Error('thrown in a timer'); }, 10);`,
    );
    expect(code).toBe(1);
    const line = fatalLine(out);
    expect(line).toMatchObject({ level: 60, msg: 'uncaught exception: exiting' });
    expect(line.err.message).toBe('thrown in a timer');
  });
});
