import type { ResourceValidation } from '@pulumi/policy';
import { describe, expect, it } from 'vitest';
import { fromManifest, isPinnedImage, policies, violations, type PolicyResource } from '../infra/policies.js';
import { resourcePolicies } from '../infra/policy-pack/adapter.js';

/** Each policy flags what it exists to catch and passes what is right; the pack runs the same checks. */
const container = (over: Record<string, unknown> = {}) => ({
  name: 'app',
  image: 'ghcr.io/ainp/broker@sha256:' + 'a'.repeat(64),
  resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1', memory: '128Mi' } },
  securityContext: { runAsNonRoot: true },
  readinessProbe: { httpGet: { path: '/ready', port: 3000 } },
  livenessProbe: { httpGet: { path: '/health', port: 3000 } },
  env: [{ name: 'LOG_LEVEL', value: 'info' }],
  ...over,
});
const deployment = (c: Record<string, unknown>, pod: Record<string, unknown> = {}): PolicyResource =>
  fromManifest({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: { template: { spec: { containers: [c], ...pod } } },
  } as never);
const check = (name: string, r: PolicyResource) => policies.find((p) => p.name === name)!.check(r);

describe('policies', () => {
  it('a well-formed Deployment passes them all', () => {
    expect(violations([deployment(container())])).toEqual([]);
  });

  it('resource-limits: a container without a memory limit', () => {
    const c = container({ resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1' } } });
    expect(check('resource-limits', deployment(c))).toEqual(['web: container app has no memory limit']);
  });

  it('no-latest-tag: latest, no tag, and an unpinned remote chart', () => {
    expect(check('no-latest-tag', deployment(container({ image: 'nginx:latest' })))).toHaveLength(1);
    expect(check('no-latest-tag', deployment(container({ image: 'registry:5000/nginx' })))).toHaveLength(1);
    expect(isPinnedImage('registry:5000/nginx:1.27')).toBe(true);
    const release = {
      type: 'kubernetes:helm.sh/v3:Release',
      name: 'nats',
      props: { chart: 'nats', values: {} },
    };
    expect(check('no-latest-tag', release)).toEqual(['nats: chart nats is not pinned to an exact version']);
  });

  it('non-root: no runAsNonRoot, uid 0, privileged', () => {
    const c = container({ securityContext: { runAsUser: 0, privileged: true } });
    expect(check('non-root', deployment(c))).toEqual([
      'web: container app does not set runAsNonRoot',
      'web: container app runs as uid 0',
      'web: container app is privileged',
    ]);
    // The pod-level setting counts for every container.
    const inherits = container({ securityContext: {} });
    expect(check('non-root', deployment(inherits, { securityContext: { runAsNonRoot: true } }))).toEqual([]);
  });

  it('probes-present: a Deployment without probes; a Job needs none', () => {
    const c = container({ readinessProbe: undefined, livenessProbe: undefined });
    expect(check('probes-present', deployment(c))).toHaveLength(2);
    const job = fromManifest({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'j' },
      spec: { template: { spec: { containers: [c] } } },
    } as never);
    expect(check('probes-present', job)).toEqual([]);
  });

  it('no-public-load-balancer: a public Service and chart values asking for one; internal is fine', () => {
    const svc = (annotations?: Record<string, string>) =>
      fromManifest({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 's', annotations },
        spec: { type: 'LoadBalancer' },
      } as never);
    expect(check('no-public-load-balancer', svc())).toEqual(['s: Service is a public LoadBalancer']);
    expect(
      check('no-public-load-balancer', svc({ 'networking.gke.io/load-balancer-type': 'Internal' })),
    ).toEqual([]);
    const release = {
      type: 'kubernetes:helm.sh/v3:Release',
      name: 'v',
      props: { values: { service: { type: 'LoadBalancer' } } },
    };
    expect(check('no-public-load-balancer', release)).toEqual([
      'v: values.service.type asks for a LoadBalancer',
    ]);
  });

  it('secrets-only-in-secrets: literal env credentials, ConfigMap credentials, chart-value passwords', () => {
    const c = container({
      env: [
        { name: 'ADMIN_TOKEN', value: 'x' },
        { name: 'UPSTREAM', value: 'redis://u:p@h:6379' },
      ],
    });
    expect(check('secrets-only-in-secrets', deployment(c))).toHaveLength(2);
    const cm = fromManifest({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm' },
      data: { DB_PASSWORD: 'x' },
    } as never);
    expect(check('secrets-only-in-secrets', cm)).toEqual([
      'cm: ConfigMap key DB_PASSWORD holds a credential',
    ]);
    const release = (token: string) => ({
      type: 'kubernetes:helm.sh/v3:Release',
      name: 'nats',
      props: { values: { config: { merge: { authorization: { token } } } } },
    });
    expect(check('secrets-only-in-secrets', release('hunter2'))).toHaveLength(1);
    // A reference to an environment variable fed from a Secret is not a credential.
    expect(check('secrets-only-in-secrets', release('<< $TOKEN >>'))).toEqual([]);
  });

  it('the policy pack reports through @pulumi/policy, the same violations, mandatory', () => {
    const pack = resourcePolicies();
    expect(pack.map((p) => p.name)).toEqual(policies.map((p) => p.name));
    const reported: string[] = [];
    const bad = deployment(container({ image: 'nginx', securityContext: {} }));
    for (const p of pack) {
      expect(p.enforcementLevel).toBe('mandatory');
      void (p.validateResource as ResourceValidation)(
        { type: bad.type, name: bad.name, props: bad.props, urn: 'urn', opts: {} } as never,
        (message: string) => reported.push(`${p.name}: ${message}`),
      );
    }
    expect(reported).toEqual(violations([bad]));
    expect(reported.length).toBe(2);
  });
});
