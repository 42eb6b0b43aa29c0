import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/** The headers helmet sets (and removes) on every response for these options, recorded once. */
export function helmetHeaders(options: HelmetOptions): { set: Array<[string, string]>; removed: string[] } {
  const set: Array<[string, string]> = [];
  const removed: string[] = [];
  const recorder = {
    setHeader: (name: string, value: string | number) => void set.push([name, String(value)]),
    removeHeader: (name: string) => void removed.push(name),
  };
  let ran = false;
  helmet(options)({ method: 'GET', url: '/', headers: {} } as never, recorder as never, (err?: unknown) => {
    if (err) throw err instanceof Error ? err : new Error(String(err));
    ran = true;
  });
  if (!ran) throw new Error('helmet did not finish synchronously: its headers cannot be precomputed');
  return { set, removed };
}

/**
 * helmet's response headers, worked out once: for fixed options helmet sets the same headers on
 * every response, so they are recorded from one run of its middleware at start-up and copied onto
 * each response (a dozen setHeader calls instead of helmet's chain of middleware per request).
 */
export function securityHeaders({ set, removed }: ReturnType<typeof helmetHeaders>): RequestHandler {
  return (_req, res, next) => {
    for (const [name, value] of set) res.setHeader(name, value);
    for (const name of removed) res.removeHeader(name);
    next();
  };
}
