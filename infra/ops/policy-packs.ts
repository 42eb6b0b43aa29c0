/**
 * The policy packs a deployment runs, for the Automation API:
 * `stack.preview({ policyPacks: await policyPacks() })`, `stack.up({ policyPacks: ... })`. The CLI
 * is given each path as `--policy-pack`; it needs a folder holding a PulumiPolicy.yaml and a pack
 * Node.js can `require`, which infra/policy-pack/build.ts makes (it refreshes the built pack when
 * the policies changed and leaves it alone when they did not).
 */
import { buildPolicyPack } from '../policy-pack/build.js';

/** Absolute paths of the built policy packs, built first when missing or out of date. */
export async function policyPacks(): Promise<string[]> {
  const { dir } = await buildPolicyPack();
  return [dir];
}
