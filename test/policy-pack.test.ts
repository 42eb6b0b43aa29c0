import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { policyPacks } from '../infra/ops/policy-packs.js';
import { buildPolicyPack } from '../infra/policy-pack/build.js';
import { policies, violations, type PolicyResource } from '../infra/policies.js';

/**
 * The built policy pack, started the way the Pulumi engine starts it. Given `--policy-pack` an
 * executable file (what policyPacks() returns), the engine (v3.274.1, pkg/resource/plugin
 * NewPolicyAnalyzer) execs it from the program's folder with the engine's address as its argument.
 * The pack's `analyzer` script runs `@pulumi/pulumi/cmd/run-policy-pack`, found from the pack's
 * folder, in that folder with the address and `.`, as Pulumi's Node.js loader does; run-policy-pack
 * registers its bundled ts-node and `require()`s the folder, so Node resolves the pack's
 * package.json `main`. `new PolicyPack` serves the analyzer over gRPC and prints its port. This test
 * execs the script with the real Node on PATH, then asks the server what the engine asks it
 * (GetAnalyzerInfo, Analyze) through the analyzer protocol's own generated client from
 * `@pulumi/pulumi`.
 */
const ROOT = path.resolve(import.meta.dirname, '..');

let analyzer: string;
let packDir: string;
let pack: ChildProcess;
let stdout = '';
let stderr = '';
// The gRPC client, messages and the analyzer service, all from the copy of @pulumi/pulumi the pack uses.
let grpc: any;
let analyzerPb: any;
let client: any;
let Empty: any;
let Struct: any;

const call = <T>(method: string, request: unknown): Promise<T> =>
  new Promise((resolve, reject) =>
    client[method](request, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
  );

beforeAll(async () => {
  [analyzer] = (await policyPacks()) as [string];
  packDir = path.dirname(analyzer);
  const fromPack = createRequire(path.join(packDir, 'package.json'));
  const fromPulumi = createRequire(fromPack.resolve('@pulumi/pulumi/package.json'));
  grpc = fromPulumi('@grpc/grpc-js');
  analyzerPb = fromPulumi('./proto/analyzer_pb.js');
  const { AnalyzerClient } = fromPulumi('./proto/analyzer_grpc_pb.js');
  Empty = fromPulumi('google-protobuf/google/protobuf/empty_pb.js').Empty;
  Struct = fromPulumi('google-protobuf/google/protobuf/struct_pb.js').Struct;

  // The engine's address (the pack serves and the engine dials it, so nothing listens there).
  pack = spawn(analyzer, ['127.0.0.1:1'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pack.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  pack.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const deadline = Date.now() + 20_000;
  while (!/^\d+\n/.test(stdout) && pack.exitCode === null && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  const port = /^(\d+)\n/.exec(stdout)?.[1];
  if (!port) throw new Error(`the policy pack did not start (exit ${pack.exitCode}):\n${stdout}${stderr}`);
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 30_000);

afterAll(async () => {
  client?.close();
  if (pack && pack.exitCode === null && pack.signalCode === null) {
    const exited = new Promise((r) => pack.once('exit', r));
    pack.kill('SIGTERM');
    await exited;
  }
});

describe('the built policy pack', () => {
  it('is a CommonJS package whose PulumiPolicy.yaml needs no TypeScript and no node arguments', () => {
    expect(path.isAbsolute(analyzer)).toBe(true);
    expect(statSync(analyzer).mode & 0o111).not.toBe(0);
    const manifest = JSON.parse(readFileSync(path.join(packDir, 'package.json'), 'utf8'));
    const root = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(manifest.type).toBe('commonjs');
    expect(existsSync(path.join(packDir, manifest.main))).toBe(true);
    expect(manifest.dependencies).toEqual({
      '@pulumi/policy': root.devDependencies['@pulumi/policy'],
      '@pulumi/pulumi': root.devDependencies['@pulumi/pulumi'],
    });
    const project = parse(readFileSync(path.join(packDir, 'PulumiPolicy.yaml'), 'utf8'));
    expect(project.runtime).toBe('nodejs');
    expect(project.main).toBe(manifest.main);
  });

  it('starts as the engine starts it and registers pack ainp with every policy, all mandatory', async () => {
    const info: any = await call('getAnalyzerInfo', new Empty());
    const manifest = JSON.parse(readFileSync(path.join(packDir, 'package.json'), 'utf8'));
    expect(info.getName()).toBe('ainp');
    expect(info.getVersion()).toBe(manifest.version);
    const registered = info.getPoliciesList().map((p: any) => ({
      name: p.getName(),
      description: p.getDescription(),
      enforcementLevel: p.getEnforcementlevel(),
    }));
    expect(registered).toEqual(
      policies.map((p) => ({
        name: p.name,
        description: p.description,
        enforcementLevel: analyzerPb.EnforcementLevel.MANDATORY,
      })),
    );
    expect(pack.exitCode).toBeNull();
    expect(stderr).toBe('');
  });

  it('reports through the analyzer protocol what infra/policies.ts finds', async () => {
    const resource: PolicyResource = {
      type: 'kubernetes:apps/v1:Deployment',
      name: 'web',
      props: {
        metadata: { name: 'web' },
        spec: { template: { spec: { containers: [{ name: 'app', image: 'nginx:latest' }] } } },
      },
    };
    expect(violations([resource]).length).toBeGreaterThan(1); // unpinned, no limits, root, no probes
    // @pulumi/policy reports a violation as the policy's description, a newline, and what it found.
    const expected = policies.flatMap((p) =>
      p.check(resource).map((m) => `${p.name}: ${p.description}\n${m}`),
    );
    const request = new analyzerPb.AnalyzeRequest()
      .setType(resource.type)
      .setName(resource.name)
      .setUrn(`urn:pulumi:test::ainp::${resource.type}::${resource.name}`)
      .setProperties(Struct.fromJavaScript(resource.props))
      // The engine always sends the resource's options (the pack refuses a request without them).
      .setOptions(new analyzerPb.AnalyzerResourceOptions());
    const response: any = await call('analyze', request);
    const reported = response.getDiagnosticsList().map((d: any) => ({
      policy: d.getPolicyname(),
      message: d.getMessage(),
      pack: d.getPolicypackname(),
      level: d.getEnforcementlevel(),
    }));
    expect(reported.map((d: any) => `${d.policy}: ${d.message}`)).toEqual(expected);
    for (const d of reported) {
      expect(d.pack).toBe('ainp');
      expect(d.level).toBe(analyzerPb.EnforcementLevel.MANDATORY);
    }
  });
});

describe('building the pack', () => {
  it('leaves an up-to-date pack alone', async () => {
    const again = await buildPolicyPack();
    expect(again.analyzer).toBe(analyzer);
    expect(again.written).toEqual([]);
  });

  it('is what every `--policy-pack` in the README and the runbook names', () => {
    const named = ['README.md', 'docs/RUNBOOK.md'].flatMap((doc) =>
      [...readFileSync(path.join(ROOT, doc), 'utf8').matchAll(/--policy-pack[ =](\S+?)[`\s]/g)].map(
        (m) => m[1]!,
      ),
    );
    expect(named.length).toBeGreaterThan(0);
    for (const p of named) expect(path.resolve(ROOT, p), p).toBe(analyzer);
  });
});
