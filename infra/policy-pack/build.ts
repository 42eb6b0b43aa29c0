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
 * How Pulumi starts it: the CLI runs a pack folder through the Node.js language host
 * (pulumi-language-nodejs), which cannot be built here; it runs a pack given as an executable file
 * directly, passing the engine's address (Pulumi CLI v3.274.1, the version scripts/tools.sh pins).
 * So the folder also gets `analyzer`, a small shell script that starts run-policy-pack in the
 * folder with the engine's address and `.`, as Pulumi's own `pulumi-analyzer-policy` shim did:
 * `--policy-pack infra/policy-pack/dist/analyzer` needs only `node` on PATH.
 *
 * `npm run build:policy-pack` runs this and prints the path to pass to `--policy-pack`.
 */
import { build } from 'esbuild';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOURCE = path.join(ROOT, 'infra/policy-pack');
/** Where the pack is built by default. */
export const POLICY_PACK_DIR = path.join(SOURCE, 'dist');
/** The pack's executable entry, the path to pass to `--policy-pack`. */
export const ANALYZER = 'analyzer';
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

const ANALYZER_SCRIPT = `#!/bin/sh
# Written by infra/policy-pack/build.ts (npm run build:policy-pack); edit that file, not this one.
# The policy pack as an executable analyzer: \`pulumi preview/up --policy-pack <this file>\` runs it
# with the engine's address as its last argument (after any logging flags). It starts the pack the
# way Pulumi's Node.js loader does: @pulumi/pulumi/cmd/run-policy-pack, run in this folder with the
# engine's address and ".", require()s this folder (package.json main: index.js), and the pack
# prints the port of the gRPC server the engine then dials.
cd "$(dirname "$0")" || exit 1
for address; do :; done
run=$(node -p 'require.resolve("@pulumi/pulumi/cmd/run-policy-pack")') || exit 1
exec node "$run" "$address" .
`;

/**
 * Writes a file only when its content or mode changes, through a rename so a reader never sees half
 * of it. Returns whether it wrote.
 */
function writeIfChanged(file: string, content: string | Uint8Array, mode = 0o644): boolean {
  const bytes = Buffer.from(content);
  if (existsSync(file) && (statSync(file).mode & 0o777) === mode && readFileSync(file).equals(bytes))
    return false;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
  return true;
}

export type BuiltPack = {
  /** The pack's folder (PulumiPolicy.yaml, package.json, index.js). */
  dir: string;
  /** The pack's executable entry in that folder: what `--policy-pack` is given. */
  analyzer: string;
  /** The files this build wrote (none when the pack was up to date). */
  written: string[];
};

/**
 * Builds the pack into `outDir` (default infra/policy-pack/dist) and returns its absolute paths. The
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
  const analyzer = path.join(dir, ANALYZER);
  const files: [string, string | Uint8Array, number?][] = [
    ...result.outputFiles.map((f): [string, Uint8Array] => [f.path, f.contents]),
    [path.join(dir, 'package.json'), `${JSON.stringify(packManifest(root), null, 2)}\n`],
    [path.join(dir, 'PulumiPolicy.yaml'), POLICY_YAML],
    [analyzer, ANALYZER_SCRIPT, 0o755],
  ];
  const written = files
    .filter(([file, content, mode]) => writeIfChanged(file, content, mode))
    .map(([file]) => file);
  return { dir, analyzer, written };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  buildPolicyPack(out).then(
    ({ analyzer, written }) => {
      process.stderr.write(
        written.length ? `policy pack built (${written.length} files written)\n` : 'policy pack up to date\n',
      );
      process.stdout.write(`${analyzer}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
