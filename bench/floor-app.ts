/**
 * The floor of the write bars: an Express 5 app that does only the work no implementation of the
 * SPEC can skip for a signed attestation and a registration, with the broker's own code for each
 * step, and nothing else. What it leaves out is required too (rate limits, request logs, metrics,
 * security headers, the event's delivery through NATS), so the broker cannot be faster than this
 * app on the same machine: npm run bench measures both in one run (see bars.ts).
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
 * Env: DATABASE_URL (the broker's, migrated), FLOOR_KEY (the API key accepted) and
 * FLOOR_OWNER (its address), PORT. Prints {"port": N} once listening; any other failure is a 500,
 * which fails the benchmark row.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import pg from 'pg';
import { parseEnv } from '../app/config/env.js';
import { settingsFrom } from '../app/config/settings.js';
import { hashApiKey } from '../app/domain/api-keys.js';
import { registerAgents, type AgentRecord, type Registration } from '../app/data/agent-repository.js';
import { GroupCommit } from '../app/data/group-commit.js';
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

const app = express();
app.use(
  express.json({
    type: 'application/json',
    verify: (req, _res, buf) => {
      (req as unknown as { rawBody: Buffer }).rawBody = buf;
    },
  }),
);

app.post('/api/receipts/:task_id/attestations', async (req: Request<{ task_id: string }>, res: Response) => {
  const did = await verifySignedRequest(nonces, {
    method: req.method,
    url: req.originalUrl,
    header: (name) => req.get(name),
    rawBody: (req as Request & { rawBody?: Buffer }).rawBody,
  });
  const body = AttestationBody.parse(req.body);
  const { attestation } = await attestations.submit({ task_id: req.params.task_id, signer: did, ...body });
  if (!attestation) throw new Error('attestation refused');
  res.status(201).json(attestation);
});

app.post('/api/v1/agents/register', async (req: Request, res: Response) => {
  const key = (req.get('authorization') ?? '').replace(/^Bearer /, '');
  // The broker finds a key by its hash (a map lookup); so does this.
  if (hashApiKey(key) !== keyHash) throw new Error('bad key');
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
  server.close(() => void Promise.allSettled([db.end()]).then(() => process.exit(0))),
);
