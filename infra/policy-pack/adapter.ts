import type { ResourceValidationPolicy } from '@pulumi/policy';
import { policies } from '../policies.js';

/** The project's policies as `@pulumi/policy` resource policies, all mandatory. */
export function resourcePolicies(): ResourceValidationPolicy[] {
  return policies.map((p) => ({
    name: p.name,
    description: p.description,
    enforcementLevel: 'mandatory',
    validateResource: (args, reportViolation) => {
      for (const v of p.check({ type: args.type, name: args.name, props: args.props })) reportViolation(v);
    },
  }));
}
