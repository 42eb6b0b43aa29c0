/**
 * The policy pack's entry point: it enforces the same policies the tests call directly
 * (infra/policies.ts). It is not loaded from here: `npm run build:policy-pack` bundles it as
 * CommonJS into infra/policy-pack/dist/, the folder to pass to `pulumi preview/up --policy-pack`.
 */
import { PolicyPack } from '@pulumi/policy';
import { resourcePolicies } from './adapter.js';

new PolicyPack('ainp', { policies: resourcePolicies() });
