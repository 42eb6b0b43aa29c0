import * as k8s from '@pulumi/kubernetes';
import { LocalWorkspace, type EngineEvent, type Stack } from '@pulumi/pulumi/automation/index.js';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOLS_BIN } from '../../infra/cluster/control-plane.js';
import { policies } from '../../infra/policies.js';
import { failureLine } from '../../infra/ops/errors.js';
import { policyPacks } from '../../infra/ops/policy-packs.js';

/**
 * The built policy pack under the real Pulumi engine: `preview` through the Automation API with
 * `policyPacks` from infra/ops/policy-packs.ts, so the real CLI (scripts/tools.sh cluster) is given
 * `--policy-pack <the pack's analyzer>`, starts it, and sends it every resource of an inline
 * program. The program's only provider is the real Kubernetes provider in render mode
 * (`renderYamlToDirectory`), which needs no API server, so this file starts no control plane.
 */
/** A fixed passphrase for a throw-away file:// backend: a test value, not a secret. */
const PASSPHRASE = 'ainp-policy-pack-test-passphrase';

let work: string;
let image = '';
let stack: Stack;

const container = () =>
  image === 'nginx:latest'
    ? { name: 'app', image }
    : {
        name: 'app',
        image,
        resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '1', memory: '64Mi' } },
        securityContext: { runAsNonRoot: true },
        readinessProbe: { httpGet: { path: '/', port: 8080 } },
        livenessProbe: { httpGet: { path: '/', port: 8080 } },
      };

async function program() {
  const provider = new k8s.Provider('render', { renderYamlToDirectory: path.join(work, 'render') });
  new k8s.apps.v1.Deployment(
    'web',
    {
      metadata: { name: 'web' },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container()] } },
      },
    },
    { provider },
  );
}

beforeAll(async () => {
  // The pinned CLI and Kubernetes provider (this file runs in a process of its own).
  process.env.PATH = `${TOOLS_BIN}:${process.env.PATH}`;
  work = mkdtempSync(path.join(os.tmpdir(), 'ainp-policy-pack-'));
  mkdirSync(path.join(work, 'state'));
  stack = await LocalWorkspace.createOrSelectStack(
    { stackName: 'policy', projectName: 'ainp-policy-pack-check', program },
    {
      workDir: work,
      projectSettings: { name: 'ainp-policy-pack-check', runtime: 'nodejs' },
      envVars: {
        PULUMI_BACKEND_URL: `file://${path.join(work, 'state')}`,
        PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
        PULUMI_HOME: path.join(work, 'home'),
        PULUMI_SKIP_UPDATE_CHECK: 'true',
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
      },
    },
  );
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A preview with the built pack: its result or error, the CLI's output and the engine's policy events. */
async function preview() {
  let out = '';
  const events: NonNullable<EngineEvent['policyEvent']>[] = [];
  const result = await stack
    .preview({
      policyPacks: await policyPacks(),
      onOutput: (s) => (out += s),
      onEvent: (e) => void (e.policyEvent && events.push(e.policyEvent)),
    })
    .then(
      (r) => r,
      (e: Error) => e,
    );
  return { result, out, events };
}

describe('the policy pack under the real Pulumi engine', () => {
  it('fails a preview whose Deployment breaks the policies, with each violation policies.ts finds', async () => {
    image = 'nginx:latest';
    const { result, out, events } = await preview();
    expect(result, out).toBeInstanceOf(Error);
    const resource = {
      type: 'kubernetes:apps/v1:Deployment',
      name: 'web',
      props: { metadata: { name: 'web' }, spec: { template: { spec: { containers: [container()] } } } },
    };
    // As @pulumi/policy reports a violation: the policy's description, a newline, what it found.
    const expected = policies.flatMap((p) =>
      p.check(resource).map((m) => ({ policy: p.name, message: `${p.description}\n${m}` })),
    );
    expect(expected.length).toBeGreaterThan(1);
    const reported = events.map((e) => ({
      policy: e.policyName,
      message: e.message.trimEnd(),
    }));
    expect(reported.sort(byPolicyThenMessage), out).toEqual(expected.sort(byPolicyThenMessage));
    // What an ops command prints last for it: one line, not the engine's log again.
    expect(failureLine(result, { command: 'preview', stack: 'policy' })).toBe(
      'preview stack policy: the policy pack refused resources (the violations are listed above); fix the program or chart, then check it with npm run preview -- --stack policy',
    );
    for (const e of events) {
      expect(e.policyPackName).toBe('ainp');
      expect(e.enforcementLevel).toBe('mandatory');
      expect(e.resourceUrn).toMatch(/::kubernetes:apps\/v1:Deployment::web$/);
    }
  });

  it('passes a preview whose Deployment keeps them', async () => {
    image = 'nginx:1.27';
    const { result, out, events } = await preview();
    expect(result, out).not.toBeInstanceOf(Error);
    expect(events).toEqual([]);
    if (!(result instanceof Error)) expect(result.changeSummary.create, out).toBe(3); // stack, provider, Deployment
    expect(out).toContain('ainp@v'); // the engine loaded the pack and reported on it
  });
});

const byPolicyThenMessage = (
  a: { policy: string; message: string },
  b: { policy: string; message: string },
) => a.policy.localeCompare(b.policy) || a.message.localeCompare(b.message);
