/**
 * The one quorum rule, used by POST /receipts/{id}/finalize and by the finalizer job.
 * - finalized: distinct committee AUDIT_PASS ≥ k and the client has not REJECTED
 *   (with no committee: the client's ACCEPTED alone);
 * - disputed: the client REJECTED while audits passed;
 * - failed: AUDIT_FAIL makes k unreachable (with no committee: the client REJECTED);
 * - expired: still pending after the receipt TTL.
 */
export type ReceiptStatus = 'pending' | 'finalized' | 'failed' | 'disputed' | 'expired';

export interface AttestationFact {
  signer: string;
  type: 'ACCEPTED' | 'REJECTED' | 'AUDIT_PASS' | 'AUDIT_FAIL' | 'SAFETY_PASS' | 'SAFETY_FAIL';
}

export interface QuorumInput {
  committee: string[];
  k: number;
  clientDid: string;
  attestations: AttestationFact[];
  createdAt: Date;
  now: Date;
  ttlHours: number;
}

export interface QuorumResult {
  status: ReceiptStatus;
  needed: number;
  have: number;
}

export function evaluateQuorum(q: QuorumInput): QuorumResult {
  const members = new Set(q.committee);
  const distinct = (type: AttestationFact['type']) =>
    new Set(q.attestations.filter((a) => a.type === type && members.has(a.signer)).map((a) => a.signer)).size;
  const byClient = (type: AttestationFact['type']) =>
    q.attestations.some((a) => a.type === type && a.signer === q.clientDid);
  const passes = distinct('AUDIT_PASS');
  const fails = distinct('AUDIT_FAIL');
  const rejected = byClient('REJECTED');

  if (members.size === 0) {
    const accepted = byClient('ACCEPTED');
    const status = rejected ? 'failed' : accepted ? 'finalized' : expiredOr(q);
    return { status, needed: 1, have: accepted ? 1 : 0 };
  }
  const result = (status: ReceiptStatus): QuorumResult => ({ status, needed: q.k, have: passes });
  if (rejected && passes > 0) return result('disputed');
  if (passes >= q.k && !rejected) return result('finalized');
  if (fails > members.size - q.k) return result('failed');
  return result(expiredOr(q));
}

function expiredOr(q: QuorumInput): ReceiptStatus {
  return q.now.getTime() - q.createdAt.getTime() >= q.ttlHours * 3_600_000 ? 'expired' : 'pending';
}
