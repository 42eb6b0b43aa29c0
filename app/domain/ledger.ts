import { splitPrice } from './credit-split.js';

/**
 * The double-entry ledger of SPEC section 10, as pure rules. Money moves only as transfers from a
 * debit account (its balance goes down) to a credit account (its balance goes up). Per DID there
 * are three accounts; the system has four. `treasury` is where money enters (it alone may be
 * negative), so the sum of every balance is always zero.
 */
export const SYSTEM_ACCOUNTS = ['treasury', 'broker', 'validators', 'pool'] as const;
export type SystemAccount = (typeof SYSTEM_ACCOUNTS)[number];
export type DidAccountKind = 'available' | 'escrow' | 'stake';

export const accountOf = (kind: DidAccountKind, did: string): string => `${kind}:${did}`;
export const available = (did: string) => accountOf('available', did);
export const escrow = (did: string) => accountOf('escrow', did);
export const stake = (did: string) => accountOf('stake', did);

export type TransferKind =
  | 'deposit'
  | 'withdrawal'
  | 'intent_escrow'
  | 'settlement'
  | 'escrow_release'
  | 'stake'
  | 'stake_withdrawal'
  | 'slash'
  | 'emission'
  | 'reward';

export interface Transfer {
  /** The idempotency key: a transfer with an id already in the ledger is not applied again. */
  id: string;
  debit: string;
  credit: string;
  amount: bigint;
  kind: TransferKind;
  reference: string | null;
}

export interface Overdraft {
  account: string;
  balance: bigint;
  needed: bigint;
}

/**
 * The first transfer of `transfers` (applied in order, from `balances`) that would take an account
 * other than treasury below zero; undefined when all of them fit.
 */
export function firstOverdraft(
  balances: ReadonlyMap<string, bigint>,
  transfers: readonly Transfer[],
): Overdraft | undefined {
  const b = new Map(balances);
  for (const t of transfers) {
    const before = b.get(t.debit) ?? 0n;
    if (t.debit !== 'treasury' && before < t.amount)
      return { account: t.debit, balance: before, needed: t.amount };
    b.set(t.debit, before - t.amount);
    b.set(t.credit, (b.get(t.credit) ?? 0n) + t.amount);
  }
  return undefined;
}

/**
 * Settling a task: the price leaves `source` (the client's escrow, or its available balance for an
 * intent opened before escrow existed) split 70/10/10/10 with the remainder to the pool, and what
 * the escrow held beyond the price goes back to the client.
 */
export function settlementTransfers(s: {
  taskId: string;
  intentId: string;
  clientDid: string;
  agentDid: string;
  price: bigint;
  escrowed: bigint | null;
}): Transfer[] {
  const source = s.escrowed === null ? available(s.clientDid) : escrow(s.clientDid);
  const split = splitPrice(s.price);
  const part = (name: string, credit: string, amount: bigint): Transfer => ({
    id: `settle:${s.taskId}:${name}`,
    debit: source,
    credit,
    amount,
    kind: 'settlement',
    reference: s.taskId,
  });
  const transfers = [
    part('agent', available(s.agentDid), split.agent),
    part('broker', 'broker', split.broker),
    part('validators', 'validators', split.validators),
    part('pool', 'pool', split.pool),
  ];
  if (s.escrowed !== null && s.escrowed > s.price)
    transfers.push(releaseTransfer(s.intentId, s.clientDid, s.escrowed - s.price));
  return transfers.filter((t) => t.amount > 0n);
}

/** A client's budget into escrow when it opens an intent. One id per intent: it escrows once. */
export const escrowTransfer = (intentId: string, clientDid: string, amount: bigint): Transfer => ({
  id: `escrow:${intentId}`,
  debit: available(clientDid),
  credit: escrow(clientDid),
  amount,
  kind: 'intent_escrow',
  reference: intentId,
});

/** Escrow back to the client. One id per intent, so an intent releases at most once. */
export const releaseTransfer = (intentId: string, clientDid: string, amount: bigint): Transfer => ({
  id: `release:${intentId}`,
  debit: escrow(clientDid),
  credit: available(clientDid),
  amount,
  kind: 'escrow_release',
  reference: intentId,
});

/** The sum of every balance: 0 unless money was created or destroyed outside a transfer. */
export const imbalance = (balances: Iterable<bigint>): bigint => {
  let sum = 0n;
  for (const b of balances) sum += b;
  return sum;
};
