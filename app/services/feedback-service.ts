import type { AppContext } from '../context.js';
import type { ApiKeyRecord } from '../data/api-key-repository.js';
import { withTransaction } from '../data/db.js';
import {
  feedbackStats,
  insertFeedback,
  insertFeedbackResponse,
  revokeFeedback,
} from '../data/feedback-repository.js';
import { feedbackScore, trustLevel } from '../domain/feedback-summary.js';
import { AppError } from '../errors.js';
import type { FeedbackInput, FeedbackResponseInput, FeedbackTarget } from '../schemas/registry.js';
import { requireAgent } from './agents-service.js';

function actingAs(key: ApiKeyRecord, address: string | undefined, field: string): string {
  const acting = address ?? key.address;
  if (acting !== key.address)
    throw AppError.forbidden(`${field} must be the API key's address (${key.address})`);
  return acting;
}

export async function giveFeedback(ctx: AppContext, key: ApiKeyRecord, input: FeedbackInput) {
  const client = actingAs(key, input.client_address, 'client_address');
  const agent = await requireAgent(ctx, input.agent_id);
  if (agent.owner_address === client)
    throw new AppError(403, 'SELF_FEEDBACK', 'An owner may not rate its own agent');
  const score = feedbackScore(input.value, input.value_decimals);
  const record = await withTransaction(ctx.db, (tx) =>
    insertFeedback(tx, { ...input, client_address: client }, score),
  );
  await ctx.cache.invalidate(agent.id);
  return record;
}

export async function revokeGivenFeedback(ctx: AppContext, key: ApiKeyRecord, f: FeedbackTarget) {
  actingAs(key, f.client_address, 'client_address');
  await requireAgent(ctx, f.id);
  const outcome = await withTransaction(ctx.db, (tx) => revokeFeedback(tx, f.id, f.client_address, f.index));
  if (outcome === 'not_found')
    throw AppError.notFound(`No feedback ${f.index} from ${f.client_address} to this agent`);
  if (outcome === 'already_revoked') throw AppError.conflict('This feedback is already revoked');
  await ctx.cache.invalidate(f.id);
  return { agent_id: f.id, client_address: f.client_address, feedback_index: f.index, revoked: true };
}

export async function respondToFeedback(
  ctx: AppContext,
  key: ApiKeyRecord,
  f: FeedbackTarget & FeedbackResponseInput,
) {
  const response = await insertFeedbackResponse(ctx.db, {
    agentId: f.id,
    client: f.client_address,
    index: f.index,
    responder: key.address,
    uri: f.response_uri,
    hash: f.response_hash,
  });
  if (!response) throw AppError.notFound(`No feedback ${f.index} from ${f.client_address} to agent ${f.id}`);
  return {
    ...response,
    agent_id: f.id,
    client_address: f.client_address,
    feedback_index: f.index,
    responder_address: key.address,
    response_uri: f.response_uri,
    response_hash: f.response_hash ?? null,
  };
}

/** The feedback summary from the live (non-revoked) feedback aggregate. */
export async function loadFeedbackSummary(ctx: AppContext, agentId: string) {
  const s = await feedbackStats(ctx.db, agentId);
  if (!s) throw AppError.notFound(`No agent ${agentId}`);
  const average = s.total ? Math.round((s.score_sum / s.total) * 100) / 100 : 0;
  return {
    total: s.total,
    average,
    positive: s.positive,
    negative: s.negative,
    revoked: s.revoked,
    last_feedback_at: s.last_feedback_at,
    trust_level: trustLevel({ total: s.total, positive: s.positive, average }, ctx.settings.trust),
  };
}

/**
 * Cached; an unknown agent is a 404 from loadFeedbackSummary (and a miss is never cached). The cache
 * kind keeps the route's name, `reputation`: it is the `kind` label of ainp_cache_requests_total.
 */
export async function feedbackSummary(ctx: AppContext, agentId: string) {
  return ctx.cache.get('reputation', agentId, () => loadFeedbackSummary(ctx, agentId));
}
