import { z } from 'zod';
import {
  Address,
  AtomicAmount,
  Bytes32,
  ChainId,
  ChainIdQuery,
  Pagination,
  SearchText,
  Tag,
  TxHash,
  Uri,
  Uuid,
} from './common.js';

export const ServiceName = z.enum(['web', 'A2A', 'MCP', 'OASF', 'ENS', 'DID', 'email']);
export const TrustModel = z.enum(['reputation', 'crypto-economic', 'tee-attestation']);
export const TrustLevel = z.enum(['excellent', 'good', 'fair', 'poor', 'new']);
export const Did = z
  .string()
  .regex(/^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$/, 'must be a DID (did:method:identifier)')
  .max(256);

/** A C0 control character or DEL: what a browser's URL parser strips or removes before the scheme. */
const isControl = (c: string) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f;

export const Service = z.strictObject({
  name: ServiceName,
  // ENS names, DIDs and email addresses are endpoints too, so any scheme but a browser-run one.
  // The scheme is read the way a browser's URL parser (WHATWG) reads it, which strips leading C0
  // controls and spaces and removes tabs and newlines anywhere: `java\nscript:` and
  // `\u0001javascript:` run as javascript:. An endpoint has no use for a control character, so one
  // is refused outright, and the scheme is then checked past leading spaces.
  endpoint: z
    .string()
    .min(1)
    .max(2048)
    .refine((v) => ![...v].some(isControl), 'must not contain control characters (U+0000-U+001F, U+007F)')
    .refine(
      (v) => !/^\s*(javascript|data|vbscript):/i.test(v),
      'must not be a javascript:, data: or vbscript: URI',
    ),
  version: z.string().max(64).optional(),
  skills: z.array(z.string().min(1).max(128)).max(64).optional(),
  domains: z.array(z.string().min(1).max(128)).max(64).optional(),
});

const Metadata = z
  .record(z.string().min(1).max(128), z.string().max(4096))
  .refine((m) => Object.keys(m).length <= 64, 'at most 64 metadata entries');

export const RegisterAgentBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(4000),
  owner_address: Address.optional(),
  chain_id: ChainId,
  did: Did.optional(),
  image: Uri.optional(),
  services: z.array(Service).max(32).default([]),
  x402_support: z.boolean().default(false),
  supported_trust: z.array(TrustModel).max(3).default([]),
  metadata: Metadata.default({}),
  tags: z.array(Tag).max(32).default([]),
});
export type RegisterAgentInput = z.infer<typeof RegisterAgentBody>;

export const PatchAgentBody = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(4000),
    image: Uri.nullable(),
    services: z.array(Service).max(32),
    x402_support: z.boolean(),
    supported_trust: z.array(TrustModel).max(3),
    metadata: Metadata,
    tags: z.array(Tag).max(32),
    status: z.enum(['active', 'inactive']),
  })
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'at least one field to change');
export type PatchAgentInput = z.infer<typeof PatchAgentBody>;

export const Agent = z
  .object({
    id: Uuid,
    agent_id: z.number().int(),
    chain_id: z.number().int(),
    owner_address: z.string(),
    name: z.string(),
    description: z.string(),
    did: z.string().nullable(),
    image: z.string().nullable(),
    services: z.array(Service),
    x402_support: z.boolean(),
    supported_trust: z.array(TrustModel),
    metadata: z.record(z.string(), z.string()),
    tags: z.array(z.string()),
    status: z.enum(['active', 'inactive']),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Agent');

export const SearchAgentsQuery = Pagination.extend({
  status: z.enum(['active', 'inactive', 'all']).default('active'),
  owner_address: Address.optional(),
  chain_id: ChainIdQuery.optional(),
  tag: Tag.optional(),
  q: SearchText.optional(),
  min_reputation: z.coerce.number().min(0).max(100).optional(),
  trust_level: TrustLevel.optional(),
});
export type SearchAgentsInput = z.infer<typeof SearchAgentsQuery>;

export const AgentList = z.object({
  agents: z.array(Agent),
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
});

export const RegistrationFile = z.object({
  type: z.literal('https://eips.ethereum.org/EIPS/eip-8004#registration-v1'),
  name: z.string(),
  description: z.string(),
  image: z.string().optional(),
  services: z.array(Service),
  x402Support: z.boolean(),
  active: z.boolean(),
  registrations: z.array(z.object({ agentId: z.number().int(), agentRegistry: z.string() })),
  supportedTrust: z.array(TrustModel),
});

export const ProofOfPayment = z.strictObject({
  chain_id: ChainId,
  tx_hash: TxHash,
  from_address: Address,
  to_address: Address,
});

/** ERC-8004 feedback values are int128; the broker keeps them exact as integer strings. */
const INT128_MIN = -(2n ** 127n);
const INT128_MAX = 2n ** 127n - 1n;
const Int128 = z
  .union([z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER), z.string()])
  .transform((v) => String(v))
  .pipe(
    z
      .string()
      .regex(/^-?(0|[1-9][0-9]{0,38})$/, 'must be an integer (int128)')
      .refine(
        // Zod runs the check even after the pattern failed: only a well-formed integer reaches BigInt.
        (v) => !/^-?[0-9]+$/.test(v) || (BigInt(v) >= INT128_MIN && BigInt(v) <= INT128_MAX),
        'must be within int128',
      ),
  );

export const FeedbackBody = z.strictObject({
  agent_id: Uuid,
  client_address: Address.optional(),
  value: Int128,
  value_decimals: z.number().int().min(0).max(18),
  tag1: Tag.optional(),
  tag2: Tag.optional(),
  endpoint: Uri.optional(),
  feedback_uri: Uri.optional(),
  feedback_hash: Bytes32.optional(),
  proof_of_payment: ProofOfPayment.optional(),
});
export type FeedbackInput = z.infer<typeof FeedbackBody>;

export const Feedback = z
  .object({
    agent_id: Uuid,
    client_address: z.string(),
    feedback_index: z.number().int(),
    value: z.string(),
    value_decimals: z.number().int(),
    score: z.number(),
    tag1: z.string().nullable(),
    tag2: z.string().nullable(),
    endpoint: z.string().nullable(),
    feedback_uri: z.string().nullable(),
    feedback_hash: z.string().nullable(),
    proof_of_payment: ProofOfPayment.nullable(),
    revoked: z.boolean(),
    created_at: z.string(),
  })
  .openapi('Feedback');

export const FeedbackParams = z.strictObject({
  id: Uuid,
  client_address: Address,
  index: z.coerce.number().int().min(1).max(2_147_483_647),
});

export const FeedbackResponseBody = z.strictObject({
  response_uri: Uri,
  response_hash: Bytes32.optional(),
});

/** GET /api/v1/agents/{id}/reputation (named Reputation in the OpenAPI document since the first release). */
export const FeedbackSummary = z
  .object({
    total: z.number().int(),
    average: z.number(),
    positive: z.number().int(),
    negative: z.number().int(),
    revoked: z.number().int(),
    last_feedback_at: z.string().nullable(),
    trust_level: TrustLevel,
  })
  .openapi('Reputation');

export const LinkPaymentBody = z.strictObject({
  agent_id: Uuid,
  chain_id: ChainId,
  tx_hash: TxHash,
  amount_atomic: AtomicAmount,
  asset: z.string().min(1).max(128).optional(),
  from_address: Address.optional(),
  to_address: Address.optional(),
});
export type LinkPaymentInput = z.infer<typeof LinkPaymentBody>;

export const Payment = z
  .object({
    id: Uuid,
    agent_id: Uuid,
    chain_id: z.number().int(),
    tx_hash: z.string(),
    amount_atomic: z.string(),
    asset: z.string().nullable(),
    from_address: z.string().nullable(),
    to_address: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi('Payment');

export const ValidationRequestBody = z.strictObject({
  validator_address: Address,
  request_uri: Uri,
  request_hash: Bytes32,
});
export const ValidationResponseBody = z.strictObject({
  response: z.number().int().min(0).max(100),
  response_uri: Uri.optional(),
  tag: Tag.optional(),
});
export const ValidationSummaryQuery = z.strictObject({ validator: Address.optional(), tag: Tag.optional() });
export const RequestHashParams = z.strictObject({ request_hash: Bytes32 });

export const AgentStats = z
  .object({
    agent_id: Uuid,
    feedback: FeedbackSummary.omit({ trust_level: true }),
    payments: z.object({ count: z.number().int(), total_atomic: z.string() }),
    tasks: z.object({ settled: z.number().int(), finalized: z.number().int(), failed: z.number().int() }),
    success_rate: z.number().nullable(),
    usefulness: z.number().nullable(),
    trust_score: z.number().nullable(),
    trust_level: TrustLevel,
  })
  .openapi('AgentStats');

export type FeedbackTarget = z.infer<typeof FeedbackParams>;
export type FeedbackResponseInput = z.infer<typeof FeedbackResponseBody>;
export type ValidationRequestInput = z.infer<typeof ValidationRequestBody>;
export type ValidationResponseInput = z.infer<typeof ValidationResponseBody>;
export type ValidationSummaryFilter = z.infer<typeof ValidationSummaryQuery>;
