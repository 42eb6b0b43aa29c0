import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsConnectOptions, NatsHandle } from '../app/data/nats.js';
import { startNatsServer, type LocalService } from '../app/local/child-service.js';
import { scratchDir } from './helpers/tmp.js';

/**
 * In Kubernetes NATS runs with token auth and the broker gets `nats://TOKEN@host:4222` (infra/
 * components/nats.ts). nats.js ignores URL credentials, so the broker passes them itself: checked
 * here against a real nats-server that requires a token.
 */
let server: LocalService;
const TOKEN = 's3cret-token';
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  const dir = scratchDir('ainp-nats-auth');
  server = (await startNatsServer(dir, undefined, ['--auth', TOKEN]))!;
  expect(server, 'nats-server must be installed (scripts/install-deps.sh)').toBeDefined();
});
afterAll(() => server?.stop());

const waitFor = async (h: NatsHandle, want: string, ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until && h.state() !== want) await new Promise((r) => setTimeout(r, 50));
  return h.state();
};

describe('NATS_URL credentials', () => {
  it('splits a token or a user and password out of the URL', () => {
    expect(natsConnectOptions('nats://tok@nats.ainp.svc:4222')).toEqual({
      servers: 'nats://nats.ainp.svc:4222',
      token: 'tok',
    });
    expect(natsConnectOptions('nats://u:p%40ss@h:4222')).toEqual({
      servers: 'nats://h:4222',
      user: 'u',
      pass: 'p@ss',
    });
    expect(natsConnectOptions('nats://127.0.0.1:4222')).toEqual({ servers: 'nats://127.0.0.1:4222' });
  });

  it('connects with the token from the URL, and stays down with a wrong one', async () => {
    const good = new NatsHandle(`nats://${TOKEN}@127.0.0.1:${server.port}`, logger);
    const bad = new NatsHandle(`nats://wrong@127.0.0.1:${server.port}`, logger);
    try {
      expect(await waitFor(good, 'up', 5000)).toBe('up');
      expect(await waitFor(bad, 'up', 1500)).toBe('down');
    } finally {
      await good.close();
      await bad.close();
    }
  });
});
