import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Runs a few lines of TypeScript (createLogger and logRequest in scope) in a process of its own. */
function run(body: string) {
  const script = `
    import { createLogger } from './app/logger.ts';
    import { logRequest } from './app/http/middleware/access-log.ts';
    ${body}
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, out })),
  );
  /** Resolves when stdout holds a line containing `text`, with the milliseconds since `from`. */
  const seen = (text: string, from: number) =>
    new Promise<number>((resolve, reject) => {
      const check = () => {
        if (out.includes(text)) resolve(performance.now() - from);
      };
      child.stdout!.on('data', check);
      child.once('exit', () => reject(new Error(`exited without "${text}": ${out}`)));
      check();
    });
  return { exited, seen, out: () => out };
}

const lines = (out: string) =>
  out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logger (buffered standard output)', () => {
  it('writes every line of every logger of the process, in order, by the time it exits', async () => {
    const { exited } = run(`
      const a = createLogger({ level: 'info', pretty: false });
      const b = createLogger({ level: 'info', pretty: false });
      for (let i = 0; i < 500; i++) (i % 2 ? b : a).info({ i }, 'line');
      process.exit(0);
    `);
    const { code, out } = await exited;
    expect(code).toBe(0);
    const got = lines(out).map((l) => l.i);
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it('writes a line within its flush interval while the process keeps running', async () => {
    const started = performance.now();
    const child = run(`
      createLogger({ level: 'info', pretty: false }).info('alone');
      setTimeout(() => process.exit(0), 20_000);
    `);
    // The process's start-up (tsx) comes first; the line is due 200 ms after it is logged.
    const ms = await child.seen('"msg":"alone"', started);
    expect(ms).toBeLessThan(15_000);
    expect(lines(child.out())).toHaveLength(1);
  });

  it('access lines carry the request id, method, URL, status and time; other lines stay redacted', async () => {
    const { exited } = run(`
      const logger = createLogger({ level: 'info', pretty: false });
      logRequest(logger, { method: 'POST', originalUrl: '/api/v1/agents/register?x=1' }, 'req-1', 201, 3.4);
      logRequest(logger, { method: 'POST', originalUrl: '/api/v1/agents/register' }, 'req-2', 401, 1);
      logger.info({ req: { headers: { authorization: 'Bearer sk-secret' } }, api: { key: 'sk-secret' } }, 'other');
      process.exit(0);
    `);
    const { code, out } = await exited;
    expect(code).toBe(0);
    expect(out).not.toContain('sk-secret');
    const [ok, refused, other] = lines(out);
    expect(ok).toMatchObject({
      level: 30,
      service: 'ainp-broker',
      request_id: 'req-1',
      req: { method: 'POST', url: '/api/v1/agents/register?x=1' },
      res: { status: 201 },
      responseTime: 3,
      msg: 'request completed',
    });
    expect(refused).toMatchObject({ level: 40, request_id: 'req-2', res: { status: 401 } });
    expect(other).toMatchObject({
      req: { headers: { authorization: '[redacted]' } },
      api: { key: '[redacted]' },
    });
  });
});
