import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Stack } from '@pulumi/pulumi/automation/index.js';
import { describe, expect, it } from 'vitest';
import { ENV_SECRET } from '../infra/components/broker.js';
import { inClusterGate } from '../infra/ops/promote.js';
import type { StackOutputs } from '../infra/ops/pulumi-stack.js';

/**
 * Where promote runs k6 (issue 33): beside a stack's broker when the stack pins a gateImage, with
 * its nodeSelector and tolerations; here otherwise. And the promotion lane's bad releases
 * (test/cluster/faults/broker-fault.mjs) do what they say, on a real HTTP server.
 */
const outputs: StackOutputs = {
  url: 'http://ainp-broker.ainp-prod.svc',
  imageDigest: `sha256:${'a'.repeat(64)}`,
  namespace: 'ainp-prod',
  release: 'ainp-broker',
  deployment: 'ainp-broker',
  migrationJob: 'ainp-broker-migrate',
  adminToken: 'x',
  pou: { k: 3, m: 5 },
  kubeContext: 'ainp-prod',
};
/** A stack whose config is `config` (getConfig throws for a key it lacks, as the Automation API does). */
const stackWith = (config: Record<string, string>) =>
  ({
    getConfig: async (key: string) => {
      if (!(key in config)) throw new Error(`configuration key '${key}' not found`);
      return { value: config[key]!, secret: false };
    },
  }) as unknown as Stack;

describe('promote runs a stack’s gate and smoke beside its broker when it pins a gateImage', () => {
  it('in the cluster, where the broker runs', async () => {
    const image = `localhost/ainp/k6@sha256:${'b'.repeat(64)}`;
    const gate = await inClusterGate(
      stackWith({
        'ainp:gateImage': image,
        'ainp:nodeSelector': '{"pool":"ainp"}',
        'ainp:tolerations': '[{"key":"dedicated","operator":"Exists","effect":"NoSchedule"}]',
      }),
      outputs,
    );
    expect(gate).toEqual({
      context: 'ainp-prod',
      namespace: 'ainp-prod',
      release: 'ainp-broker',
      secret: ENV_SECRET,
      image,
      scheduling: {
        nodeSelector: { pool: 'ainp' },
        tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }],
      },
    });
  });

  it('here (k6 against the stack’s URL) when the stack has no gateImage', async () => {
    expect(
      await inClusterGate(stackWith({ 'ainp:nodeSelector': '{"pool":"ainp"}' }), outputs),
    ).toBeUndefined();
  });
});

/** Starts a plain server with the fault module loaded as the image loads it; returns what it answered. */
function withFault(fault: string, requests: string[]) {
  const script = `
    import http from 'node:http';
    const s = http.createServer((q, r) => r.end('ok')).listen(0, '127.0.0.1', async () => {
      const out = [];
      for (const p of ${JSON.stringify(requests)}) {
        const t = performance.now();
        const r = await fetch('http://127.0.0.1:' + s.address().port + p);
        await r.text();
        out.push({ path: p, status: r.status, ms: performance.now() - t });
      }
      console.log(JSON.stringify(out));
      s.close();
    });`;
  return new Promise<{ path: string; status: number; ms: number }[]>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: {
        ...process.env,
        AINP_FAULT: fault,
        NODE_OPTIONS: `--import=${path.resolve('test/cluster/faults/broker-fault.mjs')}`,
      },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}`))));
  });
}

describe('the promotion lane’s bad releases', () => {
  it('api-slow answers every 10th /api request right but 200 ms late, nothing else', async () => {
    const answers = await withFault('api-slow', [
      ...Array.from({ length: 20 }, () => '/api/v1/agents'),
      '/ready',
      '/health',
    ]);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // The delay is a floor: the 10th and 20th /api answers come at least 200 ms late.
    expect(answers[9]!.ms).toBeGreaterThanOrEqual(195);
    expect(answers[19]!.ms).toBeGreaterThanOrEqual(195);
  });

  it('never-ready answers /ready 503 and everything else as the broker would', async () => {
    const answers = await withFault('never-ready', ['/ready', '/api/v1/agents', '/live', '/ready']);
    expect(answers.map((a) => a.status)).toEqual([503, 200, 200, 503]);
  });
});
