import { describe, expect, it } from 'vitest';
import { effectiveQuorum, selectCommittee, weightFromTrust } from '../app/domain/committee.js';
import { splitPrice } from '../app/domain/credit-split.js';
import { transition } from '../app/domain/negotiation.js';
import { evaluateQuorum, type AttestationFact } from '../app/domain/quorum.js';
import { applyEwma, NEUTRAL, observe, slashReputation, trustScore } from '../app/domain/reputation.js';

describe('splitPrice', () => {
  it.each(['0', '1', '9', '10', '99', '1000003', '340282366920938463463374607431768211455'])(
    'parts of %s sum to it',
    (p) => {
      const s = splitPrice(BigInt(p));
      expect(s.agent + s.broker + s.validators + s.pool).toBe(BigInt(p));
      expect(s.agent).toBe((BigInt(p) * 70n) / 100n);
      expect(s.pool).toBeGreaterThanOrEqual(s.broker);
    },
  );
});

describe('evaluateQuorum', () => {
  const base = {
    committee: ['a', 'b', 'c', 'd', 'e'],
    k: 3,
    clientDid: 'client',
    createdAt: new Date(0),
    now: new Date(1000),
    ttlHours: 24,
  };
  const att = (signer: string, type: AttestationFact['type']): AttestationFact => ({ signer, type });
  it('needs k distinct committee passes; outsiders and duplicates do not count', () => {
    const r = evaluateQuorum({
      ...base,
      attestations: [att('a', 'AUDIT_PASS'), att('x', 'AUDIT_PASS'), att('b', 'AUDIT_PASS')],
    });
    expect(r).toEqual({ status: 'pending', needed: 3, have: 2 });
    expect(
      evaluateQuorum({ ...base, attestations: ['a', 'b', 'c'].map((s) => att(s, 'AUDIT_PASS')) }).status,
    ).toBe('finalized');
  });
  it('fails when fails make k unreachable, disputes on client rejection with passes, expires after the TTL', () => {
    expect(
      evaluateQuorum({ ...base, attestations: ['a', 'b'].map((s) => att(s, 'AUDIT_FAIL')) }).status,
    ).toBe('pending');
    expect(
      evaluateQuorum({ ...base, attestations: ['a', 'b', 'c'].map((s) => att(s, 'AUDIT_FAIL')) }).status,
    ).toBe('failed');
    expect(
      evaluateQuorum({ ...base, attestations: [att('a', 'AUDIT_PASS'), att('client', 'REJECTED')] }).status,
    ).toBe('disputed');
    expect(evaluateQuorum({ ...base, attestations: [], now: new Date(24 * 3_600_000) }).status).toBe(
      'expired',
    );
  });
  it('with no committee the client decides alone', () => {
    const lone = { ...base, committee: [], k: 0 };
    expect(evaluateQuorum({ ...lone, attestations: [] }).status).toBe('pending');
    expect(evaluateQuorum({ ...lone, attestations: [att('client', 'ACCEPTED')] }).status).toBe('finalized');
    expect(evaluateQuorum({ ...lone, attestations: [att('client', 'REJECTED')] }).status).toBe('failed');
  });
});

describe('selectCommittee', () => {
  it('seats at most one agent per owner address, the one with the largest key', () => {
    const candidates = Array.from({ length: 12 }, (_, i) => ({
      did: `did:key:zC${i}`,
      weight: weightFromTrust(0.5),
      owner: `0xowner${i % 3}`,
    }));
    for (const seed of ['s1', 's2', 's3']) {
      const chosen = selectCommittee(candidates, 5, seed);
      expect(chosen).toHaveLength(3); // three owners: three seats, however many agents they hold
      expect(new Set(chosen.map((c) => c.owner)).size).toBe(3);
      // Each owner's seat goes to its agent that ranks first without the owner rule.
      const free = selectCommittee(
        candidates.map(({ owner: _o, ...c }) => c),
        12,
        seed,
      ).map((c) => c.did);
      for (const c of chosen) {
        const mine = candidates.filter((x) => x.owner === c.owner).map((x) => x.did);
        expect(free.find((d) => mine.includes(d))).toBe(c.did);
      }
    }
  });

  const candidates = Array.from({ length: 20 }, (_, i) => ({
    did: `did:key:z${i}`,
    weight: weightFromTrust(i / 20),
  }));
  it('is deterministic for a seed and picks m distinct members', () => {
    const a = selectCommittee(candidates, 5, 'seed-1');
    expect(selectCommittee([...candidates].reverse(), 5, 'seed-1')).toEqual(a);
    expect(new Set(a.map((c) => c.did)).size).toBe(5);
    expect(selectCommittee(candidates, 50, 'seed-1')).toHaveLength(20);
    expect(effectiveQuorum(3, 2)).toBe(2);
  });
  it('favours higher trust over many draws', () => {
    const pair = [
      { did: 'high', weight: weightFromTrust(0.9) },
      { did: 'low', weight: weightFromTrust(0.1) },
    ];
    let high = 0;
    for (let i = 0; i < 2000; i++) if (selectCommittee(pair, 1, `s${i}`)[0]!.did === 'high') high++;
    expect(high / 2000).toBeGreaterThan(0.85); // expected 0.9
  });
});

describe('reputation', () => {
  it('moves dimensions by EWMA and leaves unobserved ones alone', () => {
    const obs = observe({
      status: 'finalized',
      attestations: [{ type: 'AUDIT_PASS', score: 1, confidence: 0.5 }],
      latencyMs: 500,
      slaMs: 1000,
      price: 50n,
      budget: 100n,
      usefulness: null,
    });
    expect(obs).toEqual({ r: 1, q: 1, t: 0.5, v: 0.5, e: 0.5 });
    const next = applyEwma(NEUTRAL, obs, 0.2);
    const expected = { q: 0.6, t: 0.5, r: 0.6, s: 0.5, v: 0.5, i: 0.5, e: 0.5 };
    for (const [d, x] of Object.entries(expected)) expect(next[d as keyof typeof next]).toBeCloseTo(x, 12);
    expect(trustScore(next)).toBeCloseTo(0.35 * 0.6 + 0.35 * 0.5 + 0.2 * 0.6 + 0.1 * 0.5, 12);
    expect(slashReputation(next).q).toBeCloseTo(0.54, 12);
  });
});

describe('negotiation transitions', () => {
  const n = { state: 'proposed' as const, lastOfferBy: 'agent' as const, expiresAt: new Date(10_000) };
  it('follows the state machine', () => {
    expect(transition(n, 'accept', 'client', new Date(0))).toEqual({ ok: true, state: 'accepted' });
    expect(transition(n, 'accept', 'agent', new Date(0))).toMatchObject({ ok: false, reason: 'FORBIDDEN' });
    expect(transition({ ...n, state: 'accepted' }, 'settle', 'client', new Date(0))).toEqual({
      ok: true,
      state: 'settled',
    });
    expect(transition({ ...n, state: 'rejected' }, 'accept', 'client', new Date(0))).toMatchObject({
      ok: false,
      reason: 'INVALID_STATE',
    });
    expect(transition(n, 'accept', 'client', new Date(10_000))).toMatchObject({ ok: false, expired: true });
  });
});
