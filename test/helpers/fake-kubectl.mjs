#!/usr/bin/env node
/* global process, setInterval */
// A stand-in for kubectl (no cluster exists here): answers `get ... -o json` from the hand-written
// JSON in FAKE_KUBECTL_DIR (kubectl's shape, typed by hand, not recorded from a cluster), and `port-forward` by pointing at FAKE_READY_PORT. Every call is
// appended to FAKE_KUBECTL_LOG. CronJob times are shifted so the newest success is 30 s old.
// FAKE_KUBECTL_ERROR: every call fails with that stderr; FAKE_PORT_FORWARD_ERROR: port-forward does.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
appendFileSync(process.env.FAKE_KUBECTL_LOG, `${args.join(' ')}\n`);
const dir = process.env.FAKE_KUBECTL_DIR;
const read = (f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
const missing = (process.env.FAKE_MISSING ?? '').split(',');
const kind = args[args.indexOf('get') + 1];
const FILES = {
  deployment: 'deployment.json',
  hpa: 'hpa.json',
  pods: 'pods.json',
  job: 'job.json',
  cronjobs: 'cronjobs.json',
};

if (process.env.FAKE_KUBECTL_ERROR) {
  // As kubectl fails without a cluster: its error on stderr, exit 1.
  process.stderr.write(`${process.env.FAKE_KUBECTL_ERROR}\n`);
  process.exit(1);
} else if (args.includes('port-forward') && process.env.FAKE_PORT_FORWARD_ERROR) {
  process.stderr.write(`${process.env.FAKE_PORT_FORWARD_ERROR}\n`);
  process.exit(1);
} else if (args.includes('port-forward')) {
  process.stdout.write(`Forwarding from 127.0.0.1:${process.env.FAKE_READY_PORT} -> 3000\n`);
  setInterval(() => undefined, 1000);
} else if (missing.includes(kind) || !FILES[kind] || !existsSync(path.join(dir, FILES[kind]))) {
  process.stderr.write(
    `Error from server (NotFound): ${kind} "${args[args.indexOf('get') + 2]}" not found\n`,
  );
  process.exit(1);
} else {
  const doc = read(FILES[kind]);
  if (kind === 'cronjobs') {
    const times = doc.items
      .map((c) => Date.parse(c.status.lastSuccessfulTime))
      .filter((t) => !Number.isNaN(t));
    const shift = Date.now() - 30_000 - Math.max(...times);
    const moved = (t) => (t ? new Date(Date.parse(t) + shift).toISOString() : t);
    for (const c of doc.items) {
      c.metadata.creationTimestamp = moved(c.metadata.creationTimestamp);
      for (const k of ['lastScheduleTime', 'lastSuccessfulTime']) c.status[k] = moved(c.status[k]);
    }
  }
  process.stdout.write(JSON.stringify(doc));
}
