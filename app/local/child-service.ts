import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { freePort } from './free-port.js';

export interface LocalService {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** The first of `names` found on PATH (Debian ships nats-server in /usr/sbin). */
export async function findBinary(names: string[]): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin'];
  const { access } = await import('node:fs/promises');
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (
        await access(candidate, 1).then(
          () => true,
          () => false,
        )
      )
        return candidate;
    }
  }
  return undefined;
}

function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`exited with code ${child.exitCode}`));
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} not open after ${timeoutMs} ms`));
        else setTimeout(attempt, 25);
      });
    };
    attempt();
  });
}

/**
 * On Linux the server is started through util-linux's `setpriv --pdeathsig KILL`, which execs it
 * with the parent-death signal set: the kernel kills it when this process dies, however it dies
 * (SIGKILL, a test runner ending its worker, a crash), so no orphan server outlives its owner.
 */
let setpriv: Promise<string | undefined> | undefined;
async function spawnOwned(bin: string, args: string[]): Promise<ChildProcess> {
  setpriv ??= process.platform === 'linux' ? findBinary(['setpriv']) : Promise.resolve(undefined);
  const wrapper = await setpriv;
  const [cmd, argv] = wrapper ? [wrapper, ['--pdeathsig', 'KILL', '--', bin, ...args]] : [bin, args];
  return spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function runService(bin: string, args: string[], port: number, url: string): Promise<LocalService> {
  const child = await spawnOwned(bin, args);
  // Where setpriv is missing (not Linux): at least a normal exit of this process ends the server.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
  try {
    await waitForPort(port, child, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${path.basename(bin)} did not start: ${(err as Error).message} ${stderr}`.trim());
  }
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  return { url, port, stop };
}

/** Starts redis-server (or valkey-server) on a free loopback port, persisting under `dir`. */
export async function startRedisServer(dir: string, port?: number): Promise<LocalService | undefined> {
  const bin = await findBinary(['valkey-server', 'redis-server']);
  if (!bin) return undefined;
  const p = port ?? (await freePort());
  await mkdir(dir, { recursive: true });
  const args = ['--port', String(p), '--bind', '127.0.0.1', '--dir', path.resolve(dir), '--save', '60 1'];
  args.push('--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning');
  return runService(bin, args, p, `redis://127.0.0.1:${p}`);
}

/** Starts nats-server with JetStream on a free loopback port, storing streams under `dir`. */
export async function startNatsServer(
  dir: string,
  port?: number,
  extraArgs: string[] = [],
): Promise<LocalService | undefined> {
  const bin = await findBinary(['nats-server']);
  if (!bin) return undefined;
  const p = port ?? (await freePort());
  await mkdir(dir, { recursive: true });
  const args = ['-a', '127.0.0.1', '-p', String(p), '-js', '-sd', path.resolve(dir), ...extraArgs];
  return runService(bin, args, p, `nats://127.0.0.1:${p}`);
}
