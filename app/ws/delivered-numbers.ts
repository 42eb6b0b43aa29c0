/**
 * Which event numbers this process has handed on (to its sockets and read cache), so that each is
 * handed on once, whichever way it came (NATS or the database), and so that a number missing
 * from what NATS delivered is noticed and read from the database.
 *
 * Numbers are given without gaps in the order events become visible (see numberEvents), so what
 * has arrived is every number up to `upTo` plus a few after it that came early: after a retried
 * publish, or while NATS delivered some and dropped others. A number above `upTo + 1` leaves a gap
 * until the missing ones arrive or are read from the database.
 */
export class DeliveredNumbers {
  private upTo: bigint | undefined;
  private readonly ahead = new Set<bigint>();

  /** Where this process starts: the newest number when it starts (older events are for resume). */
  start(latest: string): void {
    if (this.upTo !== undefined) return;
    this.upTo = BigInt(latest);
    for (const n of this.ahead) if (n <= this.upTo) this.ahead.delete(n);
    this.advance();
  }

  get started(): boolean {
    return this.upTo !== undefined;
  }

  /** Everything up to this number has been handed on: the database is read after it. */
  get after(): string {
    if (this.upTo === undefined) throw new Error('DeliveredNumbers used before start');
    return String(this.upTo);
  }

  /** Whether some number after `after` has arrived while an earlier one has not. */
  get gap(): boolean {
    return this.ahead.size > 0;
  }

  /** True the first time `id` comes (hand the event on); false when it was handed on already. */
  accept(id: string): boolean {
    const n = BigInt(id);
    if (this.upTo === undefined) return true; // before start: nothing to compare with yet
    if (n <= this.upTo || this.ahead.has(n)) return false;
    this.ahead.add(n);
    this.advance();
    return true;
  }

  /**
   * The database has nothing numbered between `after` and `id` (its first row after `after`):
   * those numbers do not exist (events numbered by a release before migration 0010 kept their
   * insert ids, which have gaps), so there is nothing to wait for below `id`.
   */
  skipTo(id: string): void {
    const n = BigInt(id) - 1n;
    if (this.upTo === undefined || n <= this.upTo) return;
    this.upTo = n;
    for (const m of this.ahead) if (m <= n) this.ahead.delete(m);
    this.advance();
  }

  private advance(): void {
    let n = this.upTo!;
    while (this.ahead.delete(n + 1n)) n += 1n;
    this.upTo = n;
  }
}
