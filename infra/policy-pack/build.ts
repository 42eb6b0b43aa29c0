/**
 * Builds the policy pack that `pulumi preview/up --policy-pack` loads: CommonJS JavaScript with its
 * own package.json and PulumiPolicy.yaml, in infra/policy-pack/dist/ (git-ignored).
 *
 * Why a build: Pulumi starts a Node.js pack with `@pulumi/pulumi/cmd/run-policy-pack`, which
 * registers its bundled ts-node and then `require()`s the pack folder (its package.json `main`),
 * with any `nodeargs` placed after the script path. This repository is ESM TypeScript, which that
 * `require` cannot load. So index.ts, adapter.ts and infra/policies.ts (the one source of the rules)
 * are bundled by esbuild into one CommonJS index.js; `@pulumi/policy` and `@pulumi/pulumi` stay
 * external, declared in the pack's package.json at the versions the root package.json pins, and
 * resolve from the repository's node_modules.
 *
 * `npm run build:policy-pack` runs this and prints the folder to pass to `--policy-pack`.
 */
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOURCE = path.join(ROOT, 'infra/policy-pack');
/** Where the pack is built by default: the folder to pass to `--policy-pack`. */
export const POLICY_PACK_DIR = path.join(SOURCE, 'dist');
/** The packages the built pack requires at run time (the engine's side of the protocol). */
const RUNTIME_DEPENDENCIES = ['@pulumi/policy', '@pulumi/pulumi'];

const DESCRIPTION =
  'AINP platform policies (limits, pinned images, non-root, probes, no public LoadBalancer, secrets in Secrets)';

type RootPackage = {
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};

/** The pack's package.json: CommonJS, `main` index.js, the runtime packages at the root's pins. */
export function packManifest(root: RootPackage): Record<string, unknown> {
  const pins = { ...root.dependencies, ...root.devDependencies };
  const dependencies = Object.fromEntries(
    RUNTIME_DEPENDENCIES.map((name) => {
      const version = pins[name];
      if (!version) throw new Error(`package.json does not pin ${name}, which the policy pack requires`);
      return [name, version];
    }),
  );
  return {
    name: 'ainp-policy-pack',
    // `new PolicyPack` reads the version from the package.json of the folder it runs in.
    version: root.version,
    private: true,
    description: DESCRIPTION,
    type: 'commonjs',
    main: 'index.js',
    dependencies,
  };
}

const POLICY_YAML = `# Written by infra/policy-pack/build.ts (npm run build:policy-pack); edit that file, not this one.
# Plain CommonJS JavaScript: no TypeScript compiler and no node arguments are needed to load it.
runtime: nodejs
main: index.js
description: ${DESCRIPTION}
`;

/** Writes a file only when its content changes, through a rename so a reader never sees half of it. */
function writeIfChanged(file: string, content: string | Uint8Array): boolean {
  const bytes = Buffer.from(content);
  if (existsSync(file) && readFileSync(file).equals(bytes)) return false;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
  return true;
}

export type BuiltPack = { dir: string; written: string[] };

/**
 * Builds the pack into `outDir` (default infra/policy-pack/dist) and returns its absolute path. The
 * bundle is always computed (esbuild takes milliseconds); files are written only when they differ,
 * so a pack that is up to date is left as it is and an out-of-date one is replaced.
 */
export async function buildPolicyPack(outDir: string = POLICY_PACK_DIR): Promise<BuiltPack> {
  const dir = path.resolve(outDir);
  const result = await build({
    entryPoints: [path.join(SOURCE, 'index.ts')],
    outfile: path.join(dir, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: RUNTIME_DEPENDENCIES,
    sourcemap: 'linked',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
    banner: { js: '// Built by infra/policy-pack/build.ts from infra/policy-pack/index.ts: do not edit.' },
  });
  const root = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as RootPackage;
  mkdirSync(dir, { recursive: true });
  const files: [string, string | Uint8Array][] = [
    ...result.outputFiles.map((f): [string, Uint8Array] => [f.path, f.contents]),
    [path.join(dir, 'package.json'), `${JSON.stringify(packManifest(root), null, 2)}\n`],
    [path.join(dir, 'PulumiPolicy.yaml'), POLICY_YAML],
  ];
  const written = files.filter(([file, content]) => writeIfChanged(file, content)).map(([file]) => file);
  return { dir, written };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  buildPolicyPack(out).then(
    ({ dir, written }) => {
      process.stderr.write(
        written.length ? `policy pack built (${written.length} files written)\n` : 'policy pack up to date\n',
      );
      process.stdout.write(`${dir}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
