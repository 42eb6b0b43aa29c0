/**
 * The floor of the write bars: an Express 5 app that does only the work no implementation of the
 * SPEC can skip for a signed attestation and a registration, with the broker's own code for each
 * step, and nothing else. What it leaves out is not written in the SPEC's contract for these
 * routes (request logs, metrics, security and CORS headers, the event's delivery through NATS),
 * though a production service does it, so the broker cannot be faster than this app on the same
 * machine: npm run bench measures both in one run (see bars.ts).
 *
 * Every route (SPEC 4 and 10): X-Request-ID on the response (echoed when well formed), and the
 * rate limits counted in Valkey with their RateLimit-* headers, by the broker's limiters
 * (http/middleware/rate-limit.ts, the same store and batches): per client IP for every write
 * under /api and for refused authentication, then the route's own class per API key or DID. Every
 * string of the request valid Unicode without NUL (SPEC 10; the broker's rejectNul).
 *
 * - POST /api/receipts/:task_id/attestations: the request's DID signature verified and its replay
 *   key recorded in PostgreSQL (verifySignedRequest with durableReplayKeys, SPEC v3), the body validated (AttestationBody), and the
 *   attestation checked and recorded with its outbox event by submitAttestations, group-committed
 *   as the broker does (same batch bounds). 201 with the attestation.
 * - POST /api/v1/agents/register: the API key checked against its hash, the body validated
 *   (RegisterAgentBody), the chain's ids and the row written by registerAgents, group-committed.
 *   201 with the agent.
 * Batch bounds and discovery weights are the broker's, from the same environment variables.
 *
 * Env: DATABASE_URL (the broker's, migrated), REDIS_URL (its Valkey), FLOOR_KEY (the API key
 * accepted) and FLOOR_OWNER (its address), PORT; the RATE_LIMIT_* budgets as the broker reads them. Prints {"port": N} once listening; any other failure is a 500,
 * which fails the benchmark row.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import pg from 'pg';
import client from 'prom-client';
import { pino } from 'pino';
import { parseEnv } from '../app/config/env.js';
import { settingsFrom } from '../app/config/settings.js';
import { hashApiKey } from '../app/domain/api-keys.js';
import { registerAgents, type AgentRecord, type Registration } from '../app/data/agent-repository.js';
import { GroupCommit } from '../app/data/group-commit.js';
import { RedisHandle } from '../app/data/redis.js';
import { rateLimiters } from '../app/http/middleware/rate-limit.js';
import { rejectNul } from '../app/http/middleware/reject-nul.js';
import { requestIdOf } from '../app/http/middleware/request-context.js';
import {
  submitAttestations,
  type AttestationAttempt,
  type AttestationSubmission,
} from '../app/data/receipt-repository.js';
import { RegisterAgentBody } from '../app/schemas/registry.js';
import { AttestationBody } from '../app/schemas/pou.js';
import { durableReplayKeys, verifySignedRequest } from '../app/services/signature-service.js';

const need = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};
// Sessions are kept open while idle, so the benchmark's per-process CPU readings stay whole.
const db = new pg.Pool({ connectionString: need('DATABASE_URL'), max: 10, idleTimeoutMillis: 0 });
const keyHash = hashApiKey(need('FLOOR_KEY'));
const owner = need('FLOOR_OWNER');
const settings = settingsFrom(parseEnv(process.env));
const nonces = durableReplayKeys(db, settings.writeBatches);
const attestations = new GroupCommit<AttestationSubmission, AttestationAttempt>({
  ...settings.writeBatches,
  write: (batch) => submitAttestations(db, batch),
});
const registrations = new GroupCommit<Registration, AgentRecord | undefined>({
  ...settings.writeBatches,
  write: (items) => registerAgents(db, items, settings.discovery),
});

const redis = new RedisHandle(need('REDIS_URL'), pino({ level: 'warn' }));
await redis.connect();
const presented = (req: Pick<Request, 'get'>) => (req.get('authorization') ?? '').replace(/^Bearer /, '');
const limits = rateLimiters(
  {
    settings,
    redis,
    metrics: {
      rateLimited: new client.Counter({
        name: 'floor_rate_limited',
        help: '-',
        labelNames: ['limit'],
        registers: [],
      }),
    },
  },
  // A request with the accepted key and no DID to verify passes the refused-authentication budget,
  // as the broker's cached key does.
  { cachedKey: (req) => hashApiKey(presented(req)) === keyHash },
);

const app = express();
app.use((req, res, next) => {
  res.setHeader('X-Request-ID', requestIdOf(req.headers['x-request-id']));
  next();
});
app.use(
  express.json({
    type: 'application/json',
    verify: (req, _res, buf) => {
      (req as unknown as { rawBody: Buffer }).rawBody = buf;
    },
  }),
);

app.use(rejectNul);
app.use('/api', limits.ip_write, limits.auth_failure);

// The signature first (the per-DID limit counts the DID it proves), then the route's limit.
const signedBy = async (req: Request, res: Response, next: NextFunction) => {
  res.locals.did = await verifySignedRequest(nonces, {
    method: req.method,
    url: req.originalUrl,
    header: (name) => req.get(name),
    rawBody: (req as Request & { rawBody?: Buffer }).rawBody,
  });
  next();
};
app.post(
  '/api/receipts/:task_id/attestations',
  signedBy,
  limits.signed_write,
  async (req: Request<{ task_id: string }>, res: Response) => {
    const did = res.locals.did!;
    const body = AttestationBody.parse(req.body);
    const { attestation } = await attestations.submit({ task_id: req.params.task_id, signer: did, ...body });
    if (!attestation) throw new Error('attestation refused');
    res.status(201).json(attestation);
  },
);

// The broker finds a key by its hash (a map lookup); so does this. The key is the limit's subject.
const floorKey = { id: 'floor', name: 'floor', address: owner, prefix: '', created_at: '', revoked_at: null };
const apiKey = (req: Request, res: Response, next: NextFunction) => {
  if (hashApiKey(presented(req)) !== keyHash) throw new Error('bad key');
  res.locals.apiKey = floorKey;
  next();
};
app.post('/api/v1/agents/register', apiKey, limits.register, async (req: Request, res: Response) => {
  const input = RegisterAgentBody.parse(req.body);
  const agent = await registrations.submit({ input, owner });
  if (!agent) throw new Error('registration refused');
  res.status(201).json(agent);
});

app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
  res.status(500).json({ error: err.message });
});

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 }));
});
process.on('SIGTERM', () =>
  server.close(() => void Promise.allSettled([db.end(), redis.close()]).then(() => process.exit(0))),
);
