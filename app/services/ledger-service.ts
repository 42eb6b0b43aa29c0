import type { AppContext } from '../context.js';
import { withTransaction } from '../data/db.js';
import {
  applyTransfers,
  applyTransfersAlone,
  balancesOf,
  findTransfer,
  systemBalances,
  transfersOf,
} from '../data/ledger-repository.js';
import { DidError, parseDidKey } from '../domain/did.js';
import { available, type Transfer } from '../domain/ledger.js';
import { AppError } from '../errors.js';
import type { WithdrawalInput } from '../schemas/admin.js';
import type { DepositInput } from '../schemas/pou.js';

/**
 * An admin deposit: treasury → the DID's available balance (SPEC section 10). Idempotent by
 * `reference`: the same deposit sent again changes nothing and answers with the first transfer;
 * the same reference with another DID or amount is 409.
 */
export const deposit = (ctx: AppContext, body: DepositInput) => adminTransfer(ctx, 'deposit', body);

/**
 * An admin withdrawal (SPEC v3): the DID's available balance → treasury, the way money leaves the
 * system. Idempotent by `reference` as a deposit is; more than the available balance is 409
 * INSUFFICIENT_FUNDS.
 */
export const withdraw = (ctx: AppContext, body: WithdrawalInput) => adminTransfer(ctx, 'withdrawal', body);

async function adminTransfer(
  ctx: AppContext,
  kind: 'deposit' | 'withdrawal',
  body: DepositInput | WithdrawalInput,
) {
  try {
    parseDidKey(body.did);
  } catch (err) {
    if (err instanceof DidError)
      throw AppError.validation(`did ${err.message}`, [{ path: 'did', message: err.message }]);
    throw err;
  }
  const [debit, credit] =
    kind === 'deposit' ? ['treasury', available(body.did)] : [available(body.did), 'treasury'];
  const transfer: Transfer = {
    id: `${kind}:${body.reference}`,
    debit,
    credit,
    amount: BigInt(body.amount_atomic),
    kind,
    reference: body.reference,
  };
  // A deposit cannot overdraw (treasury may go negative): one autocommit statement locks
  // treasury's shard, writes the transfer (a repeat writes nothing) and commits, so concurrent
  // deposits hold the shard for microseconds, not across round trips (issue 35). A withdrawal reads
  // the balance under its lock first, to refuse an overdraft naming the balance; a repeat is
  // answered from the ledger before any balance check: a withdrawal repeated after the balance was
  // spent is still the same withdrawal, not an overdraft.
  let applied: string[] = [];
  if (kind === 'deposit') applied = (await applyTransfersAlone(ctx.db, [transfer])) ? [transfer.id] : [];
  else if (!(await findTransfer(ctx.db, transfer.id)))
    applied = await withTransaction(ctx.db, (tx) => applyTransfers(tx, [transfer])).catch(async (err) => {
      // Two of the same request at once: the second waited for the first's lock and then found
      // the balance spent by it. That is the same withdrawal, answered as a repeat.
      if (
        err instanceof AppError &&
        err.code === 'INSUFFICIENT_FUNDS' &&
        (await findTransfer(ctx.db, transfer.id))
      )
        return [];
      throw err;
    });
  const record = (await findTransfer(ctx.db, transfer.id))!;
  if (
    !applied.length &&
    (record.debit_account !== transfer.debit ||
      record.credit_account !== transfer.credit ||
      record.amount_atomic !== body.amount_atomic)
  ) {
    const other = kind === 'deposit' ? record.credit_account : record.debit_account;
    throw AppError.conflict(
      `reference ${body.reference} was already used for another ${kind} (${record.amount_atomic} ${kind === 'deposit' ? 'to' : 'from'} ${other})`,
      'REFERENCE_REUSED',
    );
  }
  if (applied.length)
    ctx.logger.info({ did: body.did, amount_atomic: body.amount_atomic, reference: body.reference }, kind);
  return {
    transfer: record,
    replayed: applied.length === 0,
    balances: await balancesOf(ctx.db, body.did),
  };
}

/** A DID's balances and a page of its transfers, newest first. */
export async function credits(ctx: AppContext, did: string, limit: number, offset: number) {
  const [balances, page] = await Promise.all([
    balancesOf(ctx.db, did),
    transfersOf(ctx.db, did, limit, offset),
  ]);
  return { did, ...balances, transfers: page.transfers, total: page.total, limit, offset };
}

/** The system accounts' balances, for an operator's books and the smoke's check that it moved none. */
export async function systemLedger(ctx: AppContext) {
  const b = await systemBalances(ctx.db);
  return {
    treasury_atomic: b.treasury,
    broker_atomic: b.broker,
    validators_atomic: b.validators,
    pool_atomic: b.pool,
  };
}
