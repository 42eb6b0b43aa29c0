import { describe, expect, it } from 'vitest';
import {
  gateJobManifests,
  scriptFiles,
  summaryFromLog,
  SUMMARY_BEGIN,
  SUMMARY_END,
} from '../infra/ops/gate-job.js';
import { renderChart, validateManifest, type Manifest } from './helpers/k8s.js';

const IMAGE = `grafana/k6@sha256:${'4'.repeat(64)}`;
const base = {
  namespace: 'ainp-staging',
  release: 'ainp-broker',
  secret: 'ainp-broker-env',
  image: IMAGE,
  script: 'load' as const,
  runId: 'r1',
  env: { DURATION: '50s' },
};

describe('the in-cluster gate Job', () => {
  it('ships loadtests/ in a ConfigMap mounted at the same paths, and runs k6 on it beside the broker', async () => {
    const [cm, job] = gateJobManifests(base) as [Manifest, Manifest];
    for (const m of [cm, job]) await validateManifest(m);
    const files = scriptFiles();
    expect(Object.keys(files)).toEqual(
      expect.arrayContaining(['smoke.ts', 'load.ts', 'slo.json', 'lib__api.ts']),
    );
    expect(cm.data).toEqual(files);
    const pod = job.spec.template.spec;
    const items = pod.volumes.find((v: any) => v.name === 'scripts').configMap.items;
    expect(items).toContainEqual({ key: 'lib__api.ts', path: 'lib/api.ts' });
    const c = pod.containers[0];
    expect(c.image).toBe(IMAGE);
    expect(c.args).toEqual(['run', '--quiet', '--no-color', '/scripts/load.ts']);
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      TARGET: 'http://ainp-broker.ainp-staging.svc',
      DURATION: '50s',
      SUMMARY_STDOUT: '1',
      ADMIN_TOKEN: { secretKeyRef: { name: 'ainp-broker-env', key: 'ADMIN_TOKEN' } },
    });
    // Pod Security restricted: non-root, no escalation, no capabilities, RuntimeDefault seccomp.
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 1800 });
    expect(job.spec.template.metadata.labels['ainp.io/gate']).toBe('true');
  });

  it('refuses an image that is not pinned by digest', () => {
    expect(() => gateJobManifests({ ...base, image: 'grafana/k6:1.8.1' })).toThrow(
      'must be pinned by digest',
    );
  });

  it('reads the summary from the log between its markers', () => {
    const summary = { metrics: { http_reqs: { type: 'counter', values: { count: 3 } } } };
    const log = `load against x\n${SUMMARY_BEGIN}\n${JSON.stringify(summary)}\n${SUMMARY_END}\n`;
    expect(summaryFromLog(log)).toEqual(summary);
    expect(summaryFromLog('no summary here')).toBeUndefined();
  });

  it("is let through the broker's NetworkPolicy to the API port", async () => {
    const ms = await renderChart([]);
    const np = ms.find((m) => m.kind === 'NetworkPolicy')!;
    const api = np.spec.ingress.find((r: any) => r.ports.some((p: any) => p.port === 8080));
    expect(api.from).toContainEqual({ podSelector: { matchLabels: { 'ainp.io/gate': 'true' } } });
  });
});
