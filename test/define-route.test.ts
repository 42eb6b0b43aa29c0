import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import express from 'express';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineRoute, routesAt, type Guards } from '../app/http/define-route.js';
import { errorHandler } from '../app/http/errors.js';

/**
 * defineRoute's check for a handler that never answered, on a real server: a client that leaves
 * before the answer (a probe that timed out) is not a handler that forgot to answer (issue 34,
 * item 17: 32 `GET /health: no response` errors after one load of /health).
 */
let server: Server;
let port: number;
const logged: Array<{ level: number; msg: string }> = [];
beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  const routes = routesAt('', ['test'], {
    guards: { auth: {}, limits: {} } as unknown as Guards,
    openapi: new OpenAPIRegistry(),
  });
  const slow = { method: 'get', auth: 'none', summary: 'answers after 300 ms', responses: {} } as const;
  defineRoute(routes, { ...slow, path: '/slow' }, async ({ res }) => {
    await new Promise((r) => setTimeout(r, 300));
    res.status(200).json({ ok: true });
  });
  defineRoute(routes, { ...slow, path: '/forgets' }, async () => undefined);
  const app = express();
  app.use(routes.router);
  app.use(errorHandler(logger));
  server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('defineRoute: a handler that does not answer', () => {
  it('is an error when the client is still there', async () => {
    logged.length = 0;
    const res = await fetch(`http://127.0.0.1:${port}/forgets`);
    expect(res.status).toBe(500);
    expect(logged.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual(['unhandled error']);
  });

  it('is nothing when the client left before the answer', async () => {
    logged.length = 0;
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 500)); // past the handler's 300 ms
    expect(logged.filter((l) => l.level >= 50)).toEqual([]);
  });
});
