import { JSONCodec, RetentionPolicy, StorageType } from 'nats';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '../app/config/env.js';
import { EventStream, STREAM, streamConfig } from '../app/data/event-stream.js';
import { NatsHandle } from '../app/data/nats.js';
import { startNatsServer, type LocalService } from '../app/local/child-service.js';
import { scratchDir } from './helpers/tmp.js';

/**
 * The JetStream stream AINP_EVENTS on a real nats-server: created with the configured replica
 * count, and an existing stream (an earlier release's) brought to the wanted config in place. A
 * single server cannot hold 3 replicas: asking for them is refused by the server, which the
 * broker logs while the stream keeps serving.
 */
let server: LocalService;
let handle: NatsHandle | undefined;
const lines: { level: number; msg: string; changed?: string[]; err?: string }[] = [];
const logger = pino(
  { level: 'info' },
  { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) },
);

beforeAll(async () => {
  server = (await startNatsServer(scratchDir('ainp-event-stream')))!;
  expect(server, 'nats-server must be installed (scripts/install-deps.sh)').toBeDefined();
});
afterAll(() => server?.stop());
afterEach(async () => {
  const nc = handle?.connection;
  if (nc) await (await nc.jetstreamManager()).streams.delete(STREAM).catch(() => undefined);
  await handle?.close();
  lines.length = 0;
});

async function connected(): Promise<NatsHandle> {
  handle = new NatsHandle(server.url, pino({ level: 'silent' }));
  await handle.connect(5000);
  expect(handle.state()).toBe('up');
  return handle;
}
const streamInfo = async (h: NatsHandle) => (await h.connection!.jetstreamManager()).streams.info(STREAM);

describe('NATS_STREAM_REPLICAS', () => {
  it('is 1 unless set, and takes 1 to 5', () => {
    expect(parseEnv({}).NATS_STREAM_REPLICAS).toBe(1);
    expect(parseEnv({ NATS_STREAM_REPLICAS: '3' }).NATS_STREAM_REPLICAS).toBe(3);
    expect(() => parseEnv({ NATS_STREAM_REPLICAS: '0' })).toThrow(/NATS_STREAM_REPLICAS/);
  });
});

describe('the event stream on a real nats-server', () => {
  it('is created with the configured replica count and the outbox settings', async () => {
    const h = await connected();
    await new EventStream(h, { replicas: 1, logger }).ready(() => undefined);
    const { config } = await streamInfo(h);
    expect(config).toMatchObject({
      num_replicas: 1,
      subjects: ['ainp.events.>'],
      storage: 'file',
      max_age: 7 * 24 * 3600 * 1e9,
      duplicate_window: 10 * 60 * 1e9,
    });
  });

  it('brings an earlier release’s stream to the wanted config in place, keeping its messages', async () => {
    const h = await connected();
    const nc = h.connection!;
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({
      name: STREAM,
      subjects: ['ainp.events.>'],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 3600 * 1e9,
      duplicate_window: 60 * 1e9,
      num_replicas: 1,
    });
    await nc.jetstream().publish('ainp.events.x', JSONCodec().encode({ kept: true }));
    await new EventStream(h, { replicas: 1, logger }).ready(() => undefined);
    const info = await streamInfo(h);
    expect(info.config.max_age).toBe(7 * 24 * 3600 * 1e9);
    expect(info.config.duplicate_window).toBe(10 * 60 * 1e9);
    expect(info.state.messages).toBe(1);
    expect(lines.find((l) => l.msg === 'jetstream stream updated in place')?.changed).toEqual([
      'max_age',
      'duplicate_window',
    ]);
  });

  it('goes from 1 replica to 3 in place, keeping its messages; the next start changes nothing', async () => {
    const h = await connected();
    const one = new EventStream(h, { replicas: 1 });
    await one.ready(() => undefined);
    await one.publish({ event_id: '00000000-0000-4000-8000-000000000001', id: '1', type: 'x' } as never);
    await new EventStream(h, { replicas: 3, logger }).ready(() => undefined);
    // A standalone server records the replica count it was given (it holds one copy either way);
    // a clustered one places the copies.
    const info = await streamInfo(h);
    expect([info.config.num_replicas, info.state.messages]).toEqual([3, 1]);
    expect(lines.map((l) => [l.msg, l.changed])).toEqual([
      ['jetstream stream updated in place', ['num_replicas']],
    ]);
    lines.length = 0;
    await new EventStream(h, { replicas: 3, logger }).ready(() => undefined);
    expect(lines).toEqual([]);
  });

  it('a change the server refuses (storage) is logged, and the stream serves on as it is', async () => {
    const h = await connected();
    const jsm = await h.connection!.jetstreamManager();
    await jsm.streams.add({ ...streamConfig(1), storage: StorageType.Memory });
    const stream = new EventStream(h, { replicas: 1, logger });
    await stream.ready(() => undefined);
    const warning = lines.find((l) => l.msg === 'jetstream stream not updated; it keeps its current config');
    expect(warning?.changed).toEqual(['storage']);
    expect(warning?.err).toMatch(/storage/i);
    await stream.publish({ event_id: '00000000-0000-4000-8000-000000000002', id: '2', type: 'x' } as never);
    expect((await streamInfo(h)).state.messages).toBe(1);
  });
});
