import type { AppContext } from '../context.js';
import {
  agentIdsByDid,
  findActiveAgentByDid,
  findAgent,
  registerAgents,
  searchAgents,
  updateAgent,
  type AgentRecord,
  type Registration,
} from '../data/agent-repository.js';
import type { ApiKeyRecord } from '../data/api-key-repository.js';
import { AppError } from '../errors.js';
import type { PatchAgentInput, RegisterAgentInput, SearchAgentsInput } from '../schemas/registry.js';
import { groupCommitPerContext } from './write-batches.js';

export async function requireAgent(ctx: AppContext, id: string): Promise<AgentRecord> {
  const agent = await findAgent(ctx.db, id);
  if (!agent) throw AppError.notFound(`No agent ${id}`);
  return agent;
}

/** An agent for a read: from this process's cache when it can answer (see LocalCache). */
export function readAgent(ctx: AppContext, id: string): Promise<AgentRecord> {
  return ctx.localCache.get('agent', id, () => requireAgent(ctx, id));
}

/** The signer of an AINP write that needs an agent (provider, staker, prover): active, with this DID. */
export async function requireRegisteredAgent(
  ctx: AppContext,
  did: string,
  role: string,
): Promise<AgentRecord> {
  const agent = await findActiveAgentByDid(ctx.db, did);
  if (!agent) throw AppError.forbidden(`Only an active agent registered with this DID may act as ${role}`);
  return agent;
}

/**
 * Binding a DID to an agent needs proof of control (SPEC section 10): the same request signed by
 * that DID (X-AINP-DID, X-AINP-Timestamp, X-AINP-Signature beside the API key). Without it anyone
 * could bind a victim's DID, read its events and lock it out of its own registration.
 */
function requireDidProof(did: string | undefined, signedBy: string | undefined): void {
  if (did === undefined || did === signedBy) return;
  throw AppError.unauthorized(
    `Binding ${did} needs that DID's signature on this request (X-AINP-DID, X-AINP-Timestamp, X-AINP-Signature)`,
  );
}

export async function registerAgent(
  ctx: AppContext,
  key: ApiKeyRecord,
  input: RegisterAgentInput,
  signedBy: string | undefined,
) {
  const owner = input.owner_address ?? key.address;
  if (owner !== key.address) {
    throw AppError.forbidden(`owner_address must be the API key's address (${key.address})`);
  }
  requireDidProof(input.did, signedBy);
  const agent = await registrations(ctx).submit({ input, owner });
  if (!agent) throw AppError.conflict(`DID ${input.did} is already registered`);
  return agent;
}

/**
 * Registrations go through a group commit (data/group-commit.ts): the ones that arrive together
 * take their ids in one counter bump per chain, in arrival order, and are inserted in one
 * statement. `undefined` is a DID already bound.
 */
const registrations = groupCommitPerContext<Registration, AgentRecord | undefined>('register', (ctx) => ({
  write: (items) => registerAgents(ctx.db, items, ctx.settings.discovery),
}));

export async function patchAgent(ctx: AppContext, key: ApiKeyRecord, id: string, patch: PatchAgentInput) {
  // A patch cannot name a DID (the schema refuses the field): a DID is bound once, with its proof.
  const agent = await requireAgent(ctx, id);
  if (agent.owner_address !== key.address)
    throw AppError.forbidden('Only a key of the owner address may change this agent');
  const updated = await updateAgent(ctx.db, id, patch);
  if (!updated) throw AppError.notFound(`No agent ${id}`);
  // Committed: this process drops its copies now; the others on the trigger's event.
  ctx.localCache.invalidate([`agent:${id}`, ...(agent.did ? [`rep:${agent.did}`] : [])]);
  await ctx.cache.invalidate(id);
  return updated;
}

/** The ERC-8004 registration file (registration-v1) of an agent. */
export async function registrationFile(ctx: AppContext, id: string) {
  const a = await readAgent(ctx, id);
  return {
    type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1' as const,
    name: a.name,
    description: a.description,
    ...(a.image ? { image: a.image } : {}),
    services: a.services,
    x402Support: a.x402_support,
    active: a.status === 'active',
    registrations: [
      {
        agentId: a.agent_id,
        agentRegistry: `eip155:${a.chain_id}:${ctx.settings.registry.agentRegistryAddress}`,
      },
    ],
    supportedTrust: a.supported_trust,
  };
}

export async function findAgents(ctx: AppContext, query: SearchAgentsInput) {
  const { agents, total } = await searchAgents(ctx.db, query, ctx.settings.trust);
  return { agents, total, limit: query.limit, offset: query.offset };
}

/** After a commit that changed agents' task counts or trust: drop their cached stats. */
export async function invalidateAgentsByDid(ctx: AppContext, dids: Iterable<string>): Promise<void> {
  const unique = [...new Set(dids)];
  if (!unique.length) return;
  ctx.localCache.invalidate(unique.map((did) => `rep:${did}`));
  for (const id of await agentIdsByDid(ctx.db, unique)) await ctx.cache.invalidate(id);
}
