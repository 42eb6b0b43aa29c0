/**
 * A bad release for the promotion lane (scripts/images/registry-push.sh lays this file into an image
 * built FROM the broker's, loaded by `NODE_OPTIONS=--import`): it wraps every HTTP server's request
 * event before the broker's own listener sees it, and breaks what AINP_FAULT names.
 *   api-slow     every 10th request to /api of this process is answered AINP_FAULT_DELAY_MS (200 by
 *                default) late (10 %,
 *                deterministic): every answer right, the p95 far above the SLO's; /ready, /live and
 *                /health stay as they are, so the pods turn Ready and the smoke passes
 *   never-ready  /ready always answers 503: the pod never turns Ready
 * Any other value (or none) changes nothing.
 */
import http from 'node:http';
import process from 'node:process';
import { setTimeout } from 'node:timers';

const fault = process.env.AINP_FAULT ?? '';
const EVERY = 10;
const DELAY_MS = Number(process.env.AINP_FAULT_DELAY_MS) || 200;
let apiRequests = 0;

const isReady = (url) => url === '/ready' || url.startsWith('/ready?');
const slowed = (url) => fault === 'api-slow' && url.startsWith('/api') && ++apiRequests % EVERY === 0;

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...args) {
  if (event === 'request') {
    const [req, res] = args;
    const url = req.url ?? '';
    if (fault === 'never-ready' && isReady(url)) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'not ready', fault }));
      return true;
    }
    if (slowed(url)) {
      setTimeout(() => emit.call(this, event, ...args), DELAY_MS);
      return true;
    }
  }
  return emit.call(this, event, ...args);
};
