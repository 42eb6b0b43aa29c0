import type { AppContext } from '../context.js';
import { withTransaction } from '../data/db.js';
import { applyTransfers, balancesOf, findTransfer, transfersOf } from '../data/ledger-repository.js';
import { DidError, parseDidKey } from '../domain/did.js';
import { available, type Transfer } from '../domain/ledger.js';
import { AppError } from '../errors.js';
import type { DepositInput } from '../schemas/pou.js';

/**
 * An admin deposit: treasury → the DID's available balance (SPEC section 10). Idempotent by
 * `reference`: the same deposit sent again changes nothing and answers with the first transfer;
 * the same reference with another DID or amount is 409.
 */
export async function deposit(ctx: AppContext, body: DepositInput) {
  try {
    parseDidKey(body.did);
  } catch (err) {
    if (err instanceof DidError)
      throw AppError.validation(`did ${err.message}`, [{ path: 'did', message: err.message }]);
    throw err;
  }
  const transfer: Transfer = {
    id: `deposit:${body.reference}`,
    debit: 'treasury',
    credit: available(body.did),
    amount: BigInt(body.amount_atomic),
    kind: 'deposit',
    reference: body.reference,
  };
  const applied = await withTransaction(ctx.db, (tx) => applyTransfers(tx, [transfer]));
  const record = (await findTransfer(ctx.db, transfer.id))!;
  if (
    !applied.length &&
    (record.credit_account !== transfer.credit || record.amount_atomic !== body.amount_atomic)
  ) {
    throw AppError.conflict(
      `reference ${body.reference} was already used for another deposit (${record.amount_atomic} to ${record.credit_account})`,
      'REFERENCE_REUSED',
    );
  }
  if (applied.length)
    ctx.logger.info(
      { did: body.did, amount_atomic: body.amount_atomic, reference: body.reference },
      'deposit',
    );
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
