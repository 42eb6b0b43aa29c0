import type autocannon from 'autocannon';
import { signedHeaders } from '../app/domain/did-signing.js';
import { newClient } from '../test/helpers/api.js';
import { newSigner, registeredAgent, settledReceipt, type Signer } from '../test/helpers/ainp.js';

/** The AUDIT_PASS every benchmarked attestation carries. */
export const AUDIT = { type: 'AUDIT_PASS', score: 0.9, confidence: 0.9 };

/**
 * The cast of the attestation benchmarks (npm run bench, bench:profile --op attest): a provider
 * and `members` staked committee candidates (one owner each, none the provider's) on the broker
 * at `base`, which must run with POU_M = `members` and POU_MIN_STAKE at most 10.
 */
export async function attestationCast(base: string, members: number) {
  const provider = await registeredAgent(base, await newClient(base), { name: 'bench provider' });
  const signers: Signer[] = [];
  for (let i = 0; i < members; i++)
    signers.push((await registeredAgent(base, await newClient(base), { stake: '10' })).signer);
  const byDid = new Map(signers.map((m) => [m.did, m]));

  /** `count` settled receipts of the provider (a fresh client each), `parallel` at a time. */
  const receipts = async (count: number, parallel = 8) => {
    const made: { task_id: string; committee: string[]; client: Signer }[] = [];
    let left = count;
    await Promise.all(
      Array.from({ length: Math.min(parallel, count) }, async () => {
        while (left > 0) {
          left -= 1;
          const client = newSigner();
          made.push({ ...(await settledReceipt(base, client, provider.signer)), client });
        }
      }),
    );
    return made;
  };

  /** `count` distinct (pending receipt, committee member) pairs: each one attestation to make. */
  const attestations = async (count: number) => {
    const made = await receipts(Math.ceil(count / members));
    const pairs = made.flatMap((r) =>
      r.committee.map((did) => ({ task: r.task_id, signer: byDid.get(did)! })),
    );
    if (pairs.length < count) throw new Error(`only ${pairs.length} committee seats for ${count}`);
    return pairs.slice(0, count);
  };

  /**
   * Autocannon options that send each pair's AUDIT_PASS once, signed now (signatures are good for
   * 5 minutes). One queued request per request sent; `amount` stops the run before the queue runs
   * dry (were it to, the request would go to /api/receipts unchanged, a 404 that fails the row).
   * `target` is the server sent to (the broker by default; the floor app shares its database).
   */
  const attestRun = (pairs: Awaited<ReturnType<typeof attestations>>, amount: number, target = base) => {
    const body = JSON.stringify(AUDIT);
    const requests = pairs.map(({ task, signer }) => {
      const p = `/api/receipts/${task}/attestations`;
      return {
        method: 'POST' as const,
        path: p,
        headers: { ...signedHeaders(signer, 'POST', p, body), 'Content-Type': 'application/json' },
        body,
      };
    });
    let next = 0;
    return {
      url: `${target}/api/receipts`,
      method: 'POST' as const,
      amount,
      requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, ...requests[next++] }) }],
    };
  };

  return { provider, byDid, receipts, attestations, attestRun };
}
