import { newSigner, signedHeaders, type Signer } from '../../app/domain/did-signing.js';
import type { KeyType } from '../../app/domain/did.js';
import { randomUUID } from 'node:crypto';
import { ADMIN_TOKEN } from './admin-token.js';
import { agentBody, call, type ApiResponse, type Client } from './api.js';

export { newSigner, type Signer };

/** A DID-signed request, as an agent would send it. */
export async function signed(
  baseUrl: string,
  signer: Signer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const raw = body === undefined ? '' : JSON.stringify(body);
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...signedHeaders(signer, method, path, raw),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : raw,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/**
 * Registers an agent for `signer`'s DID through `owner`'s API key, the request also signed by that
 * DID (the proof of control SPEC section 10 asks for when a DID is bound).
 */
export function registerWithDid(
  baseUrl: string,
  owner: Client,
  signer: Signer,
  body: Record<string, unknown>,
) {
  return signed(
    baseUrl,
    signer,
    'POST',
    '/api/v1/agents/register',
    { ...body, did: signer.did },
    {
      Authorization: `Bearer ${owner.key}`,
    },
  );
}

/** An admin deposit into `did`'s available balance (the only way money enters the ledger). */
export async function fund(baseUrl: string, did: string, amount: string): Promise<ApiResponse> {
  const res = await call(baseUrl, 'POST', '/api/admin/deposits', {
    token: ADMIN_TOKEN,
    body: { did, amount_atomic: amount, reference: `test-${randomUUID()}` },
  });
  if (res.status !== 201) throw new Error(`deposit failed: ${JSON.stringify(res.body)}`);
  return res;
}

/** A stake lock longer than a receipt's life (24 h by default), so the agent may sit on committees. */
export const STAKE_LOCK_SECONDS = 7 * 86_400;

/** Registers an agent with a fresh DID through `owner`'s key and optionally funds and stakes for it. */
export async function registeredAgent(
  baseUrl: string,
  owner: Client,
  opts: { stake?: string; type?: KeyType; name?: string } = {},
): Promise<{ signer: Signer; id: string }> {
  const signer = newSigner(opts.type ?? 'ed25519');
  const res = await registerWithDid(baseUrl, owner, signer, agentBody({ name: opts.name ?? 'agent' }));
  if (res.status !== 201) throw new Error(`register failed: ${JSON.stringify(res.body)}`);
  if (opts.stake) {
    await fund(baseUrl, signer.did, opts.stake);
    const s = await signed(baseUrl, signer, 'POST', '/api/stakes', {
      amount_atomic: opts.stake,
      lock_seconds: STAKE_LOCK_SECONDS,
    });
    if (s.status !== 201) throw new Error(`stake failed: ${JSON.stringify(s.body)}`);
  }
  return { signer, id: res.body.id };
}

/**
 * Deposit → intent → negotiation → accept → settle; returns the receipt. The client is funded with
 * the budget first unless `funded` is false.
 */
export async function settledReceipt(
  baseUrl: string,
  client: Signer,
  provider: Signer,
  opts: { price?: string; budget?: string; sla_ms?: number; latency_ms?: number; funded?: boolean } = {},
) {
  const budget = opts.budget ?? '2000000';
  if (opts.funded !== false && budget !== '0') await fund(baseUrl, client.did, budget);
  const intent = await signed(baseUrl, client, 'POST', '/api/intents', {
    intent_type: 'translation',
    description: 'Translate a document',
    budget_atomic: budget,
    sla_ms: opts.sla_ms ?? 10_000,
  });
  if (intent.status !== 201) throw new Error(`intent failed: ${JSON.stringify(intent.body)}`);
  const neg = await signed(baseUrl, provider, 'POST', '/api/negotiations', {
    intent_id: intent.body.id,
    price_atomic: opts.price ?? '1000000',
    eta_ms: 5000,
  });
  if (neg.status !== 201) throw new Error(`negotiation failed: ${JSON.stringify(neg.body)}`);
  const accepted = await signed(baseUrl, client, 'POST', `/api/negotiations/${neg.body.id}/accept`, {});
  if (accepted.status !== 200) throw new Error(`accept failed: ${JSON.stringify(accepted.body)}`);
  const receipt = await signed(baseUrl, client, 'POST', `/api/negotiations/${neg.body.id}/settle`, {
    outputs_ref: 'ipfs://out',
    metrics: { latency_ms: opts.latency_ms ?? 2000 },
  });
  if (receipt.status !== 201) throw new Error(`settle failed: ${JSON.stringify(receipt.body)}`);
  return receipt.body;
}

/** Posts one attestation of `type` with full score and confidence; throws unless it is recorded. */
async function attest(baseUrl: string, signer: Signer, taskId: string, type: string): Promise<void> {
  const res = await signed(baseUrl, signer, 'POST', `/api/receipts/${taskId}/attestations`, {
    type,
    score: 1,
    confidence: 1,
  });
  if (res.status !== 201) throw new Error(`${type} failed: ${JSON.stringify(res.body)}`);
}

/** POST /finalize, which must answer `finalized`. */
async function finalizeNow(baseUrl: string, taskId: string): Promise<void> {
  const fin = await fetch(`${baseUrl}/api/receipts/${taskId}/finalize`, { method: 'POST' });
  const body = (await fin.json()) as { status?: string };
  if (body.status !== 'finalized') throw new Error(`finalize failed: ${JSON.stringify(body)}`);
}

/**
 * A receipt of `provider` finalized on the client's ACCEPTED alone: for a broker with no staked
 * agents, where every committee is empty (committee_shortfall). Such a receipt earns nothing: no
 * reputation, no usefulness proof (SPEC v3).
 */
export async function finalizedReceipt(
  baseUrl: string,
  provider: Signer,
  price?: string,
): Promise<{ task_id: string }> {
  const client = newSigner();
  const receipt = await settledReceipt(baseUrl, client, provider, price ? { price, budget: price } : {});
  if (receipt.committee.length)
    throw new Error('finalizedReceipt needs a broker without committee candidates');
  await attest(baseUrl, client, receipt.task_id, 'ACCEPTED');
  await finalizeNow(baseUrl, receipt.task_id);
  return receipt;
}

/**
 * A receipt of `provider` finalized by an independent committee: every member in `auditors` (the
 * broker's staked agents, of owners other than the provider's) passes it, then the client accepts.
 * The committee drawn must be among `auditors`.
 */
export async function auditedReceipt(
  baseUrl: string,
  provider: Signer,
  auditors: Signer[],
): Promise<{ task_id: string; committee: string[] }> {
  const client = newSigner();
  const receipt = await settledReceipt(baseUrl, client, provider);
  if (!receipt.committee.length) throw new Error('auditedReceipt needs staked committee candidates');
  for (const did of receipt.committee as string[]) {
    const member = auditors.find((a) => a.did === did);
    if (!member) throw new Error(`committee member ${did} is not one of the auditors`);
    await attest(baseUrl, member, receipt.task_id, 'AUDIT_PASS');
  }
  await attest(baseUrl, client, receipt.task_id, 'ACCEPTED');
  await finalizeNow(baseUrl, receipt.task_id);
  return receipt;
}
