import type { SyncOptions } from '../data/rate-limit-store.js';
import type { TrustThresholds } from '../domain/feedback-summary.js';
import type { Env } from './env.js';

/** Weights of the discovery score (SPEC 6); the env schema checks that they sum to 1. */
export interface DiscoveryWeights {
  relevance: number;
  trust: number;
  usefulness: number;
}

/**
 * The rate-limit classes, each with its own per-window budget. The registry's are counted per API
 * key; `signed_write` and `api_read` (the /api routes) per DID, else per API key, else per client
 * IP; `finalize` and `admin` per client IP. The rest are per client IP above all of those: every
 * write under /api (`ip_write`), refused authentication (`auth_failure`), WebSocket connects
 * (`ws_connect`), and the health, metrics and document routes (`probe`).
 */
export const LIMIT_CLASSES = [
  'register',
  'feedback',
  'link_payment',
  'search',
  'get',
  'write',
  'signed_write',
  'api_read',
  'finalize',
  'admin',
  'ip_write',
  'auth_failure',
  'ws_connect',
  'probe',
] as const;
export type LimitClass = (typeof LIMIT_CLASSES)[number];

/**
 * The rules' knobs, typed and grouped, built from the environment once per process (in
 * createContext) so no request or job run maps environment keys again.
 */
export interface Settings {
  discovery: DiscoveryWeights;
  trust: TrustThresholds;
  rateLimits: { windowMs: number; perWindow: Record<LimitClass, number>; sync: SyncOptions };
  registry: { agentRegistryAddress: string; apiKeyCacheMs: number };
  pou: {
    committeeSize: number;
    quorum: number;
    minStakeAtomic: string;
    minPriceAtomic: bigint;
    negotiationTtlMinutes: number;
    intentTtlMinutes: number;
    receiptTtlHours: number;
    reputationAlpha: number;
  };
  proofs: { maxPerHour: number; nearPerfectScore: number; burstMax: number; burstWindowMinutes: number };
  usefulnessWindowDays: number;
  rewards: { poolAtomic: bigint; minUsefulness: number };
  /** Group commit of hot writes (data/group-commit.ts). */
  writeBatches: { maxBatch: number; maxInFlight: number; maxQueued: number };
}

export function discoveryWeights(env: Env): DiscoveryWeights {
  return {
    relevance: env.DISCOVERY_WEIGHT_RELEVANCE,
    trust: env.DISCOVERY_WEIGHT_TRUST,
    usefulness: env.DISCOVERY_WEIGHT_USEFULNESS,
  };
}

export function settingsFrom(env: Env): Settings {
  return {
    discovery: discoveryWeights(env),
    trust: {
      minFeedback: env.TRUST_MIN_FEEDBACK,
      excellent: { average: env.TRUST_EXCELLENT_AVERAGE, successRate: env.TRUST_EXCELLENT_SUCCESS_RATE },
      good: { average: env.TRUST_GOOD_AVERAGE, successRate: env.TRUST_GOOD_SUCCESS_RATE },
      fair: { average: env.TRUST_FAIR_AVERAGE, successRate: env.TRUST_FAIR_SUCCESS_RATE },
    },
    rateLimits: {
      windowMs: env.RATE_LIMIT_WINDOW_MS,
      sync: {
        batchShare: env.RATE_LIMIT_SYNC_PERCENT / 100,
        flushMs: env.RATE_LIMIT_FLUSH_MS,
        maxKeys: 100_000,
      },
      perWindow: {
        register: env.RATE_LIMIT_REGISTER,
        feedback: env.RATE_LIMIT_FEEDBACK,
        link_payment: env.RATE_LIMIT_LINK_PAYMENT,
        search: env.RATE_LIMIT_SEARCH,
        get: env.RATE_LIMIT_GET,
        write: env.RATE_LIMIT_WRITE,
        signed_write: env.RATE_LIMIT_SIGNED_WRITE,
        api_read: env.RATE_LIMIT_API_READ,
        finalize: env.RATE_LIMIT_FINALIZE,
        admin: env.RATE_LIMIT_ADMIN,
        ip_write: env.RATE_LIMIT_IP_WRITE,
        auth_failure: env.RATE_LIMIT_AUTH_FAILURE,
        ws_connect: env.RATE_LIMIT_WS_CONNECT,
        probe: env.RATE_LIMIT_PROBE,
      },
    },
    registry: {
      agentRegistryAddress: env.AGENT_REGISTRY_ADDRESS,
      apiKeyCacheMs: env.API_KEY_CACHE_SECONDS * 1000,
    },
    pou: {
      committeeSize: env.POU_M,
      quorum: env.POU_K,
      minStakeAtomic: env.POU_MIN_STAKE,
      minPriceAtomic: BigInt(env.MIN_PRICE_ATOMIC),
      negotiationTtlMinutes: env.NEGOTIATION_TTL_MINUTES,
      intentTtlMinutes: env.INTENT_TTL_MINUTES,
      receiptTtlHours: env.RECEIPT_TTL_HOURS,
      reputationAlpha: env.REPUTATION_ALPHA,
    },
    proofs: {
      maxPerHour: env.MAX_PROOFS_PER_HOUR,
      nearPerfectScore: env.PROOF_NEAR_PERFECT_SCORE,
      burstMax: env.PROOF_BURST_MAX,
      burstWindowMinutes: env.PROOF_BURST_WINDOW_MINUTES,
    },
    usefulnessWindowDays: env.USEFULNESS_WINDOW_DAYS,
    writeBatches: {
      maxBatch: env.DB_WRITE_BATCH_MAX,
      maxInFlight: env.DB_WRITE_BATCHES_IN_FLIGHT,
      // Each waiting write is one open request; past this a write gets a 503 instead of a longer queue.
      maxQueued: 1000,
    },
    rewards: { poolAtomic: BigInt(env.REWARD_POOL_ATOMIC), minUsefulness: env.MIN_USEFULNESS_FOR_REWARDS },
  };
}
