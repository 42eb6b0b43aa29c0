import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

/** The chart rendered by the real helm (built by scripts/tools.sh) and schema validation of manifests. */
export const run = promisify(execFile);
export const HELM = path.resolve('.tools/bin/helm');
export const CHART = path.resolve('helm');
export const KUBE = '1.30.0';

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: any };
  spec: any;
  data?: any;
};

export async function renderChart(
  args: string[] = [],
  { release = 'rel', namespace = 'ainp' }: { release?: string; namespace?: string } = {},
): Promise<Manifest[]> {
  const { stdout } = await run(
    HELM,
    ['template', release, CHART, '--namespace', namespace, '--kube-version', KUBE, ...args],
    { maxBuffer: 20 * 1024 * 1024 },
  );
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Manifest)
    .filter(Boolean);
}

/** Validates a manifest with the model class of its apiVersion and kind (throws on a violation). */
export async function validateManifest(m: {
  apiVersion: string;
  kind: string;
  [k: string]: unknown;
}): Promise<void> {
  const [group, version] = m.apiVersion.includes('/') ? m.apiVersion.split('/') : ['', m.apiVersion];
  const modulePath =
    group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/${group}/${version}/${m.kind}`
      : `kubernetes-models/${group ? `${group}/` : ''}${version}/${m.kind}`;
  const mod = (await import(modulePath)) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = mod[m.kind]!;
  new Model(m).validate();
}
