/**
 * A delaying reverse proxy on loopback, for proving that the gate fails a slow target: every HTTP
 * request (and WebSocket upgrade) is held DELAY ms, then forwarded to the target. It stops by itself
 * after --max-seconds.
 *   tsx scripts/slow-proxy.ts --target http://127.0.0.1:3000 --delay-ms 80 --port 0 --max-seconds 300
 * Prints `listening <port>` once ready.
 */
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    'delay-ms': { type: 'string', default: '80' },
    port: { type: 'string', default: '0' },
    'max-seconds': { type: 'string', default: '300' },
  },
});
const target = new URL(values.target ?? '');
if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
  console.error('the slow proxy only forwards to loopback targets');
  process.exit(2);
}
const delay = Number(values['delay-ms']);
const wait = () => new Promise((r) => setTimeout(r, delay));

const server = http.createServer(async (req, res) => {
  await wait();
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
});

server.on('upgrade', async (req, socket, head) => {
  await wait();
  const up = net.connect(Number(target.port), target.hostname, () => {
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    up.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) up.write(head);
    up.pipe(socket).pipe(up);
  });
  up.on('error', () => socket.destroy());
  socket.on('error', () => up.destroy());
});

server.keepAliveTimeout = 5000;
server.listen(Number(values.port), '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  console.log(`listening ${addr.port}`);
});
setTimeout(() => process.exit(0), Number(values['max-seconds']) * 1000).unref();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
