/**
 * The policy packs a deployment runs, for the Automation API:
 * `stack.preview({ policyPacks: await policyPacks() })`, `stack.up({ policyPacks: ... })`. The CLI
 * is given each path as `--policy-pack`. infra/policy-pack/build.ts makes the pack (it refreshes the
 * built pack when the policies changed and leaves it alone when they did not); the path returned is
 * the pack's executable entry, which the Pulumi CLI starts directly, so no Node.js language host is
 * needed (the CLI must be one that runs executable policy packs, as v3.274.1 from scripts/tools.sh
 * does).
 */
import { buildPolicyPack } from '../policy-pack/build.js';

/** Absolute paths of the built policy packs, built first when missing or out of date. */
export async function policyPacks(): Promise<string[]> {
  const { analyzer } = await buildPolicyPack();
  return [analyzer];
}
