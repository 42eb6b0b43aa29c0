import { Cron } from 'croner';
import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * The one schema for the process environment. Parsed once at start; a bad variable stops the
 * process with a message naming it. Every variable here is documented in `.env.example`.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const optionalUrl = (protocols: string[]) =>
  z
    .string()
    .trim()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(
      z
        .string()
        .refine(
          (v) => protocols.some((p) => v.startsWith(`${p}://`)),
          `must start with ${protocols.map((p) => `${p}://`).join(' or ')}`,
        )
        .optional(),
    )
    .optional();

/** A five-field cron expression, or six fields with seconds first. */
export const cronExpression = z
  .string()
  .trim()
  .refine((v) => {
    if (![5, 6].includes(v.split(/\s+/).length)) return false;
    try {
      new Cron(v, { paused: true }).stop();
      return true;
    } catch {
      return false;
    }
  }, 'must be a cron expression of 5 fields, or 6 with seconds first');

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
/** An address or CIDR (IPv4 or IPv6) in a TRUST_PROXY list. */
function isAddressOrCidr(v: string): boolean {
  const [ip, bits, extra] = v.split('/');
  const family = isIP(ip ?? '');
  if (!family || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}
/**
 * Express's `trust proxy` (SPEC section 10): `true` or `false`, a hop count, or a comma-separated
 * list of addresses, CIDRs and the names loopback, linklocal, uniquelocal. Read as text, `1` would
 * be taken for an address and `true` would stop the process: each form is parsed to its type.
 */
const trustProxy = z
  .string()
  .default('false')
  .transform((v, ctx): boolean | number | string[] => {
    const t = v.trim();
    if (t === 'true' || t === 'false') return t === 'true';
    if (/^\d{1,2}$/.test(t)) return Number(t);
    const list = t.split(',').map((s) => s.trim());
    const bad = list.filter((s) => !PROXY_NAMES.has(s) && !isAddressOrCidr(s));
    if (!list.length || bad.length) {
      ctx.addIssue({
        code: 'custom',
        message: `must be true, false, a hop count, or a list of addresses, CIDRs, loopback, linklocal, uniquelocal (not ${bad.join(', ') || 'empty'})`,
      });
      return z.NEVER;
    }
    return list;
  });

const regex = z
  .string()
  .optional()
  .refine((v) => {
    if (!v) return true;
    try {
      new RegExp(v);
      return true;
    } catch {
      return false;
    }
  }, 'must be a valid regular expression');

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: int(0, 65535).default(8080),
  DATA_DIR: z.string().default('.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: bool.optional(),
  APP_VERSION: z.string().optional(),

  DATABASE_URL: optionalUrl(['postgres', 'postgresql']),
  DB_POOL_MAX: int(1, 200).default(20),
  DB_POOL_IDLE_TIMEOUT_MS: int(1000, 600_000).default(30_000),
  DB_CONNECTION_TIMEOUT_MS: int(100, 60_000).default(5_000),
  // `migrate` waits this long for the database to answer before it fails (the migration Job can
  // start while PostgreSQL is still initialising).
  MIGRATE_CONNECT_RETRY_SECONDS: int(0, 3600).default(120),
  DB_STATEMENT_TIMEOUT_MS: int(100, 600_000).default(15_000),
  // Statements with parameters are prepared once per connection (data/db.ts). Off only behind a
  // pooler in transaction mode that cannot keep prepared statements (PgBouncer before 1.21, or
  // without max_prepared_statements).
  DB_PREPARED_STATEMENTS: bool.default(true),
  // POST /api/v1/agents/register answered in front of Express when nothing could change the answer
  // (http/fast-register.ts); false sends every registration through the Express chain.
  HTTP_FAST_REGISTER: bool.default(true),
  // Group commit of hot writes (data/group-commit.ts): at most this many writes per statement (1
  // turns batching off) and this many batches at once, each on one pooled connection.
  DB_WRITE_BATCH_MAX: int(1, 500).default(50),
  DB_WRITE_BATCHES_IN_FLIGHT: int(1, 50).default(2),
  MIGRATIONS_DIR: z.string().default('migrations'),
  MIGRATE_ON_START: bool.optional(),

  REDIS_URL: optionalUrl(['redis', 'rediss']),
  NATS_URL: optionalUrl(['nats', 'tls']),
  // Replicas of the JetStream stream (AINP_EVENTS): 3 on a clustered NATS, so losing a server
  // loses no event; a single server holds only 1. An existing stream is updated in place.
  NATS_STREAM_REPLICAS: int(1, 5).default(1),
  LOCAL_SERVICES: bool.default(true),

  ADMIN_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  CORS_ORIGIN_REGEX: regex,
  TRUST_PROXY: trustProxy,
  METRICS_PORT: int(1, 65_535).optional(),
  BODY_LIMIT: z.string().default('100kb'),
  SHUTDOWN_TIMEOUT_MS: int(1000, 120_000).default(20_000),

  API_KEY_CACHE_SECONDS: int(0, 300).default(5),
  AGENT_REGISTRY_ADDRESS: z
    .string()
    .regex(/^0x[0-9a-fA-F]{40}$/, 'must be 0x followed by 40 hex characters')
    .transform((v) => v.toLowerCase())
    .default('0x0000000000000000000000000000000000000000'),

  RATE_LIMIT_WINDOW_MS: int(1000, 3_600_000).default(60_000),
  RATE_LIMIT_REGISTER: int(1, 1_000_000).default(10),
  RATE_LIMIT_FEEDBACK: int(1, 1_000_000).default(100),
  RATE_LIMIT_LINK_PAYMENT: int(1, 1_000_000).default(50),
  RATE_LIMIT_SEARCH: int(1, 1_000_000).default(300),
  RATE_LIMIT_GET: int(1, 1_000_000).default(1000),
  RATE_LIMIT_WRITE: int(1, 1_000_000).default(100),
  RATE_LIMIT_SIGNED_WRITE: int(1, 1_000_000).default(120),
  RATE_LIMIT_API_READ: int(1, 1_000_000).default(1000),
  RATE_LIMIT_FINALIZE: int(1, 1_000_000).default(60),
  RATE_LIMIT_ADMIN: int(1, 1_000_000).default(120),
  // Per client IP, above the per-DID and per-key limits (SPEC section 10, v3): DIDs and unknown keys
  // cost nothing to make, so these bound what one address can send whoever it claims to be.
  RATE_LIMIT_IP_WRITE: int(1, 1_000_000).default(3000),
  RATE_LIMIT_AUTH_FAILURE: int(1, 1_000_000).default(120),
  RATE_LIMIT_WS_CONNECT: int(1, 1_000_000).default(120),
  RATE_LIMIT_PROBE: int(1, 1_000_000).default(600),
  /**
   * Per cent of a limit a replica may admit between two syncs with Valkey: across R replicas a key
   * admits at most limit + R × that share per window. 0 syncs every hit (exact, one Valkey round
   * trip per request); limits under 200 are exact at the default 1.
   */
  RATE_LIMIT_SYNC_PERCENT: z.coerce.number().min(0).max(10).default(1),
  /** How often each replica adds its waiting hits to the shared counts. */
  RATE_LIMIT_FLUSH_MS: int(10, 10_000).default(100),

  CACHE_TTL_SECONDS: int(1, 86_400).default(300),
  /**
   * Agents and reputations kept in each process's memory, dropped by invalidation events (migration
   * 0008); this is the longest a value is kept even so. 0 turns the in-process cache off.
   */
  LOCAL_CACHE_TTL_MS: int(0, 300_000).default(30_000),
  LOCAL_CACHE_MAX_ENTRIES: int(1, 1_000_000).default(50_000),
  TRUST_MIN_FEEDBACK: int(0, 1_000_000).default(3),
  TRUST_EXCELLENT_AVERAGE: z.coerce.number().min(0).max(100).default(90),
  TRUST_EXCELLENT_SUCCESS_RATE: z.coerce.number().min(0).max(1).default(0.9),
  TRUST_GOOD_AVERAGE: z.coerce.number().min(0).max(100).default(75),
  TRUST_GOOD_SUCCESS_RATE: z.coerce.number().min(0).max(1).default(0.7),
  TRUST_FAIR_AVERAGE: z.coerce.number().min(0).max(100).default(50),
  TRUST_FAIR_SUCCESS_RATE: z.coerce.number().min(0).max(1).default(0.4),

  POU_M: int(0, 101).default(5),
  POU_K: int(1, 101).default(3),
  POU_MIN_STAKE: z
    .string()
    .regex(/^\d{1,78}$/, 'must be an integer amount in atomic units')
    .default('1000000'),
  // The least a budget or a price may be (SPEC section 10, v3): every receipt moves real funds and
  // pays its fees. At least 10, so that each 10 % fee of the split is at least one unit.
  MIN_PRICE_ATOMIC: z
    .string()
    .regex(/^\d{1,31}$/, 'must be an integer amount in atomic units')
    .refine((v) => BigInt(v) >= 10n, 'must be at least 10 (each 10 % fee of a price is then at least 1)')
    .default('1000'),
  NEGOTIATION_TTL_MINUTES: int(1, 7 * 24 * 60).default(60),
  // An open intent that nobody settled expires after this and its escrow goes back to the client.
  INTENT_TTL_MINUTES: int(1, 30 * 24 * 60).default(24 * 60),
  RECEIPT_TTL_HOURS: z.coerce
    .number()
    .min(0.001)
    .max(24 * 365)
    .default(24),
  REPUTATION_ALPHA: z.coerce.number().gt(0).max(1).default(0.2),
  POU_FINALIZER_BATCH: int(1, 10_000).default(100),
  POU_FINALIZER_BUDGET_MS: int(100, 3_600_000).default(50_000),

  MAX_PROOFS_PER_HOUR: int(1, 1_000_000).default(100),
  PROOF_NEAR_PERFECT_SCORE: z.coerce.number().min(0).max(100).default(99),
  PROOF_BURST_MAX: int(0, 10_000).default(5),
  PROOF_BURST_WINDOW_MINUTES: int(1, 1440).default(10),
  USEFULNESS_WINDOW_DAYS: int(1, 365).default(30),
  REWARD_POOL_ATOMIC: z
    .string()
    .regex(/^\d{1,78}$/, 'must be an integer amount in atomic units')
    .default('1000000000'),
  MIN_USEFULNESS_FOR_REWARDS: z.coerce.number().min(0).max(100).default(10),
  DISCOVERY_WEIGHT_RELEVANCE: z.coerce.number().min(0).max(1).default(0.6),
  DISCOVERY_WEIGHT_TRUST: z.coerce.number().min(0).max(1).default(0.3),
  DISCOVERY_WEIGHT_USEFULNESS: z.coerce.number().min(0).max(1).default(0.1),

  WS_PING_INTERVAL_MS: int(100, 600_000).default(30_000),
  WS_MAX_CONNECTIONS_PER_IDENTITY: int(1, 10_000).default(10),
  WS_REVOCATION_CHECK_MS: int(100, 5_000).default(2_000),
  /** Events a resume sends on one connection; beyond, the socket closes so the client asks for the rest. */
  WS_RESUME_LIMIT: int(1, 10_000).default(1_000),

  SCHEDULER_ENABLED: bool.optional(),
  POU_FINALIZER_CRON: cronExpression.default('*/1 * * * *'),
  POU_FINALIZER_ENABLED: bool.default(true),
  USEFULNESS_AGGREGATOR_CRON: cronExpression.default('0 * * * *'),
  USEFULNESS_AGGREGATOR_ENABLED: bool.default(true),
  CREDITS_CRON: cronExpression.default('5 * * * *'),
  CREDITS_ENABLED: bool.default(false),
});

/** Cross-field rules, checked after each variable is valid on its own. */
const checkedEnvSchema = envSchema.superRefine((env, ctx) => {
  const sum = env.DISCOVERY_WEIGHT_RELEVANCE + env.DISCOVERY_WEIGHT_TRUST + env.DISCOVERY_WEIGHT_USEFULNESS;
  if (Math.abs(sum - 1) > 1e-9) {
    ctx.addIssue({
      code: 'custom',
      path: ['DISCOVERY_WEIGHT_RELEVANCE'],
      message: `DISCOVERY_WEIGHT_RELEVANCE + DISCOVERY_WEIGHT_TRUST + DISCOVERY_WEIGHT_USEFULNESS must sum to 1 (they sum to ${sum})`,
    });
  }
  if (env.POU_K > Math.max(env.POU_M, 1)) {
    ctx.addIssue({ code: 'custom', path: ['POU_K'], message: `must not exceed POU_M (${env.POU_M})` });
  }
});

export type Env = z.infer<typeof envSchema>;

export class EnvError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid environment:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'EnvError';
  }
}

/** Parses the environment; throws an EnvError naming every bad variable. */
export function parseEnv(source: Record<string, string | undefined> = process.env): Env {
  // Empty strings count as unset so `FOO=` in a .env file falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = checkedEnvSchema.safeParse(cleaned);
  if (!result.success) {
    throw new EnvError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  return result.data;
}
