import type { AppContext } from '../context.js';
import { withTransaction } from '../data/db.js';
import {
  attestationCounts,
  findReceipt,
  submitAttestations,
  listAttestations,
  toReceipt,
  type AttestationAttempt,
  type AttestationSubmission,
  type AttestationType,
} from '../data/receipt-repository.js';
import { AppError } from '../errors.js';
import type { AttestationInput } from '../schemas/pou.js';
import { invalidateAgentsByDid } from './agents-service.js';
import { finalizeOne } from './finalization-service.js';
import { groupCommitPerContext } from './write-batches.js';

const CLIENT_TYPES = new Set<AttestationType>(['ACCEPTED', 'REJECTED']);
export const ATTESTATIONS_INLINE = 100;

async function requireReceipt(ctx: AppContext, taskId: string) {
  const r = await findReceipt(ctx.db, taskId);
  if (!r) throw AppError.notFound(`No receipt ${taskId}`);
  return r;
}

export async function getReceipt(ctx: AppContext, taskId: string) {
  const r = await requireReceipt(ctx, taskId);
  const [counts, attestations] = await Promise.all([
    attestationCounts(ctx.db, taskId),
    listAttestations(ctx.db, taskId, ATTESTATIONS_INLINE, 0),
  ]);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { ...toReceipt(r), attestation_counts: counts, attestations, attestations_total: total };
}

export async function getAttestations(ctx: AppContext, taskId: string, limit: number, offset: number) {
  await requireReceipt(ctx, taskId);
  const [counts, attestations] = await Promise.all([
    attestationCounts(ctx.db, taskId),
    listAttestations(ctx.db, taskId, limit, offset),
  ]);
  return { attestations, total: Object.values(counts).reduce((a, b) => a + b, 0), limit, offset };
}

export async function getCommittee(ctx: AppContext, taskId: string) {
  const r = await requireReceipt(ctx, taskId);
  return {
    task_id: r.task_id,
    committee: r.committee,
    weights: r.committee_weights,
    k: r.k,
    m: r.m,
    selection_seed: r.selection_seed,
    committee_shortfall: r.committee_shortfall,
    algorithm:
      'efraimidis-spirakis: key = ln(u)/weight, u from sha256(seed "\\n" did), weight = trust score in ppm (min 1), top m',
  };
}

/**
 * Attestations go through a group commit (data/group-commit.ts): the ones that arrive together
 * are checked and recorded in one statement, each with its own outcome.
 */
const attestations = groupCommitPerContext<AttestationSubmission, AttestationAttempt>('attest', (ctx) => ({
  write: (batch) => submitAttestations(ctx.db, batch),
}));

/**
 * ACCEPTED/REJECTED only from the receipt's client; AUDIT_* and SAFETY_* only from committee
 * members; one per (task, signer, type); none once the receipt left pending (one statement:
 * submitAttestations).
 */
export async function attest(ctx: AppContext, did: string, taskId: string, body: AttestationInput) {
  const { receipt, allowed, attestation } = await attestations(ctx).submit({
    task_id: taskId,
    signer: did,
    ...body,
  });
  if (!receipt) throw AppError.notFound(`No receipt ${taskId}`);
  if (receipt.status !== 'pending')
    throw AppError.conflict(`The receipt is ${receipt.status}; attestations are closed`, 'INVALID_STATE');
  if (!allowed) {
    throw new AppError(
      403,
      'FORBIDDEN',
      'UNAUTHORIZED_ATTESTATION',
      CLIENT_TYPES.has(body.type) ? { rule: 'only the receipt client' } : { rule: 'only committee members' },
    );
  }
  if (!attestation)
    throw AppError.conflict(
      `This signer already gave a ${body.type} attestation for this receipt`,
      'DUPLICATE_ATTESTATION',
    );
  ctx.metrics.attestations.inc({ type: body.type });
  return attestation;
}

/** Idempotent: a receipt that already left pending returns its status and changes nothing. */
export async function finalize(ctx: AppContext, taskId: string) {
  const result = await withTransaction(ctx.db, async (tx) => {
    const done = await finalizeOne(ctx, tx, taskId);
    if (!done) throw AppError.notFound(`No receipt ${taskId}`);
    const { receipt: r, result: q } = done;
    if (r.status !== 'pending') return { status: r.status, moved: false, agent: r.agent_did };
    if (q.status === 'pending') {
      throw new AppError(409, 'QUORUM_NOT_MET', `Quorum not met: ${q.have} of ${q.needed}`, undefined, {
        needed: q.needed,
        have: q.have,
      });
    }
    return { status: done.moved ? q.status : r.status, moved: done.moved, agent: r.agent_did };
  });
  if (result.moved) {
    ctx.metrics.finalizations.inc({ result: result.status, path: 'api' });
    await invalidateAgentsByDid(ctx, [result.agent]);
  }
  return { ok: true, status: result.status };
}
