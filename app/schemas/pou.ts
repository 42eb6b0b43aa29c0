import { z } from 'zod';
import { AtomicAmount, Pagination, PositiveAmount, SearchText, Uuid } from './common.js';

export const IntentBody = z.strictObject({
  intent_type: z.string().trim().min(1).max(100),
  description: z.string().max(4000),
  budget_atomic: AtomicAmount,
  sla_ms: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3_600_000)
    .optional(),
  inputs_ref: z.string().min(1).max(2048).optional(),
});

export const NegotiationBody = z.strictObject({
  intent_id: Uuid,
  price_atomic: AtomicAmount,
  eta_ms: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3_600_000),
});
export const OfferBody = NegotiationBody.omit({ intent_id: true });
export const EmptyBody = z.strictObject({});

export const SettleBody = z.strictObject({
  outputs_ref: z.string().min(1).max(2048).optional(),
  metrics: z
    .strictObject({
      latency_ms: z
        .number()
        .int()
        .min(0)
        .max(7 * 24 * 3_600_000),
    })
    .optional(),
});

export const AttestationBody = z.strictObject({
  type: z.enum(['ACCEPTED', 'REJECTED', 'AUDIT_PASS', 'AUDIT_FAIL', 'SAFETY_PASS', 'SAFETY_FAIL']),
  score: z.number().min(0).max(1),
  confidence: z.number().min(0).max(1),
  evidence_ref: z.string().min(1).max(2048).optional(),
});

export const StakeBody = z.strictObject({
  amount_atomic: PositiveAmount,
  // A committee seat also needs the stake locked for a receipt's whole life (RECEIPT_TTL_HOURS).
  lock_seconds: z
    .number()
    .int()
    .min(1)
    .max(10 * 365 * 86_400),
});
export const WithdrawBody = z.strictObject({ amount_atomic: PositiveAmount });
/** SPEC section 10: money enters through an admin deposit, idempotent by its reference. */
/** A DID's syntax (its key is checked where it is used). */
const Did = z.string().regex(/^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$/, 'must be a DID');
export const DepositBody = z.strictObject({
  did: Did.max(128),
  amount_atomic: PositiveAmount,
  reference: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
});
export const SlashBody = z.strictObject({
  did: z.string().min(8).max(256),
  amount_atomic: AtomicAmount,
  reason: z.string().trim().min(1).max(1000),
});

export const TaskParams = z.strictObject({ task_id: Uuid });
export const DidParams = z.strictObject({ did: Did.max(256) });
export const AttestationPage = Pagination;

export const Negotiation = z
  .object({
    id: Uuid,
    intent_id: Uuid,
    client_did: z.string(),
    agent_did: z.string(),
    state: z.enum(['proposed', 'accepted', 'rejected', 'settled', 'expired']),
    price_atomic: z.string(),
    eta_ms: z.number(),
    last_offer_by: z.enum(['client', 'agent']),
    offers: z.array(
      z.object({ by: z.string(), price_atomic: z.string(), eta_ms: z.number(), at: z.string() }),
    ),
    expires_at: z.string(),
  })
  .openapi('Negotiation');

export const Receipt = z
  .object({
    task_id: Uuid,
    status: z.enum(['pending', 'finalized', 'failed', 'disputed', 'expired']),
    agent_did: z.string(),
    client_did: z.string(),
    committee: z.array(z.string()),
    k: z.number(),
    m: z.number(),
    selection_seed: z.string(),
    committee_shortfall: z.boolean(),
    self_dealt: z.boolean(),
  })
  .loose()
  .openapi('Receipt');

export const ReputationVector = z
  .object({
    did: z.string(),
    q: z.number(),
    t: z.number(),
    r: z.number(),
    s: z.number(),
    v: z.number(),
    i: z.number(),
    e: z.number(),
    trust_score: z.number(),
    tasks_finalized: z.number(),
    updated_at: z.string().nullable(),
  })
  .openapi('ReputationVector');

const Count = z.number().int().min(0).max(1_000_000_000);
export const ProofBody = z.strictObject({
  trace_id: z.string().trim().min(1).max(200),
  // SPEC section 10: a proof names a finalized receipt whose provider is the prover.
  task_id: Uuid,
  metrics: z.strictObject({
    compute_ms: Count,
    memory_mb: Count,
    hops: Count,
    checks: Count,
    samples: Count,
  }),
});

export const DiscoveryQuery = Pagination.extend({
  q: SearchText.optional().openapi({
    description:
      'Text to match (websearch syntax: words, "phrases", -negation, or). Matches are ranked by ' +
      "relevance = ts_rank (PostgreSQL) of the agent's name and tags (weight A), skills (B) and " +
      'description (C) against the words, phrases and ors of q (negated words left out), capped at 1; ' +
      'without q, relevance is 0. See docs/discovery.md.',
  }),
  tag: z.string().min(1).max(64).optional(),
});

export type IntentInput = z.infer<typeof IntentBody>;
export type NegotiationInput = z.infer<typeof NegotiationBody>;
export type OfferInput = z.infer<typeof OfferBody>;
export type SettleInput = z.infer<typeof SettleBody>;
export type AttestationInput = z.infer<typeof AttestationBody>;
export type StakeInput = z.infer<typeof StakeBody>;
export type SlashInput = z.infer<typeof SlashBody>;
export type WithdrawInput = z.infer<typeof WithdrawBody>;
export type DepositInput = z.infer<typeof DepositBody>;
export type ProofInput = z.infer<typeof ProofBody>;
export type DiscoveryInput = z.infer<typeof DiscoveryQuery>;
