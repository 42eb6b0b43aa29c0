import { createServer } from 'node:net';

/**
 * Asks the kernel for a free loopback TCP port; with `preferred`, that port when it is free (the
 * local stack keeps its services' ports across restarts of one data folder).
 */
export async function freePort(preferred?: number): Promise<number> {
  if (preferred !== undefined && (await listenOn(preferred).catch(() => undefined)) === preferred)
    return preferred;
  return listenOn(0);
}

function listenOn(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() =>
        address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
