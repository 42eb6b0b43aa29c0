import type { AppContext } from '../context.js';
import type { ApiKeyRecord } from '../data/api-key-repository.js';
import { linkPayment } from '../data/payment-repository.js';
import { AppError } from '../errors.js';
import type { LinkPaymentInput } from '../schemas/registry.js';
import { requireAgent } from './agents-service.js';

/**
 * Links an on-chain payment to an agent. The key acts for the payer (from_address, its own
 * address by default) or for the agent's owner. The same link again is idempotent (200, same
 * record); a transaction already linked to another agent, or with other details, is 409.
 */
export async function linkAgentPayment(ctx: AppContext, key: ApiKeyRecord, input: LinkPaymentInput) {
  const agent = await requireAgent(ctx, input.agent_id);
  const from = input.from_address ?? key.address;
  if (from !== key.address && agent.owner_address !== key.address) {
    throw AppError.forbidden(
      "from_address must be the API key's address unless the key is the agent owner's",
    );
  }
  const { created, payment } = await linkPayment(ctx.db, {
    ...input,
    from_address: from,
    linked_by: key.address,
  });
  if (!created) {
    if (payment.agent_id !== input.agent_id) {
      throw AppError.conflict(
        `Transaction ${input.tx_hash} on chain ${input.chain_id} is linked to another agent`,
      );
    }
    if (payment.amount_atomic !== input.amount_atomic || (input.asset ?? null) !== payment.asset) {
      throw AppError.conflict(
        `Transaction ${input.tx_hash} is already linked with a different amount or asset`,
      );
    }
    return { created, payment };
  }
  await ctx.cache.invalidate(agent.id);
  return { created, payment };
}
