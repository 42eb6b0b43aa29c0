/**
 * The policy pack: `pulumi preview --policy-pack infra/policy-pack` (and `up`) enforce the same
 * policies the tests call directly (infra/policies.ts).
 */
import { PolicyPack } from '@pulumi/policy';
import { resourcePolicies } from './adapter.js';

new PolicyPack('ainp', { policies: resourcePolicies() });
