import { newSigner, signedHeaders, type Signer } from '../../app/domain/did-signing.js';
import type { KeyType } from '../../app/domain/did.js';
import { agentBody, type ApiResponse, type Client } from './api.js';

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

/** Registers an agent with a fresh DID through `owner`'s key and optionally stakes for it. */
export async function registeredAgent(
  baseUrl: string,
  owner: Client,
  opts: { stake?: string; type?: KeyType; name?: string } = {},
): Promise<{ signer: Signer; id: string }> {
  const signer = newSigner(opts.type ?? 'ed25519');
  const res = await registerWithDid(baseUrl, owner, signer, agentBody({ name: opts.name ?? 'agent' }));
  if (res.status !== 201) throw new Error(`register failed: ${JSON.stringify(res.body)}`);
  if (opts.stake) {
    const s = await signed(baseUrl, signer, 'POST', '/api/stakes', {
      amount_atomic: opts.stake,
      lock_seconds: 86_400,
    });
    if (s.status !== 201) throw new Error(`stake failed: ${JSON.stringify(s.body)}`);
  }
  return { signer, id: res.body.id };
}

/** Intent → negotiation → accept → settle; returns the receipt. */
export async function settledReceipt(
  baseUrl: string,
  client: Signer,
  provider: Signer,
  opts: { price?: string; budget?: string; sla_ms?: number; latency_ms?: number } = {},
) {
  const intent = await signed(baseUrl, client, 'POST', '/api/intents', {
    intent_type: 'translation',
    description: 'Translate a document',
    budget_atomic: opts.budget ?? '2000000',
    sla_ms: opts.sla_ms ?? 10_000,
  });
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
