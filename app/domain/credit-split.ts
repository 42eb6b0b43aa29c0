/**
 * Settlement split of a price in atomic units: agent 70%, broker 10%, validators 10%, pool 10%,
 * each floored; the remainder goes to the pool, so the parts always sum to the price exactly.
 */
export interface CreditSplit {
  agent: bigint;
  broker: bigint;
  validators: bigint;
  pool: bigint;
}

export function splitPrice(price: bigint): CreditSplit {
  if (price < 0n) throw new RangeError('price must not be negative');
  const agent = (price * 70n) / 100n;
  const broker = (price * 10n) / 100n;
  const validators = (price * 10n) / 100n;
  return { agent, broker, validators, pool: price - agent - broker - validators };
}
