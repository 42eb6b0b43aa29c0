import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export interface BrokerProcess {
  child: ChildProcess;
  url: string;
  port: number;
  output(): string;
  exited: Promise<number | null>;
}

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Runs `app/main.ts` as its own process (as the image does with dist), with the given args and env. */
export function runMain(args: string[], env: Record<string, string | undefined>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Starts `main.ts serve` and waits for its "broker listening" log line. */
export async function spawnBroker(
  env: Record<string, string | undefined>,
  timeoutMs = 20_000,
): Promise<BrokerProcess> {
  const run = runMain(['serve'], { ...env, LOG_LEVEL: 'info', PORT: '0' });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = /"port":(\d+),"version"/.exec(run.output());
    if (m) {
      const port = Number(m[1]);
      return { ...run, port, url: `http://127.0.0.1:${port}` };
    }
    if (run.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  run.child.kill('SIGKILL');
  throw new Error(`broker did not start:\n${run.output()}`);
}
