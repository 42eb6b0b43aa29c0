/**
 * The negotiation state machine: proposed → accepted | rejected; accepted → settled;
 * proposed or accepted → expired after the TTL. A counter-offer keeps it proposed and moves the
 * turn: only the party that did not make the last offer may accept.
 */
export type NegotiationState = 'proposed' | 'accepted' | 'rejected' | 'settled' | 'expired';
export type Party = 'client' | 'agent';
export type NegotiationAction = 'propose' | 'accept' | 'reject' | 'settle';

export interface NegotiationView {
  state: NegotiationState;
  lastOfferBy: Party;
  expiresAt: Date;
}

export type TransitionResult =
  | { ok: true; state: NegotiationState }
  | { ok: false; reason: 'INVALID_STATE' | 'FORBIDDEN'; message: string; expired?: boolean };

export function isExpired(n: NegotiationView, now: Date): boolean {
  return (n.state === 'proposed' || n.state === 'accepted') && now.getTime() >= n.expiresAt.getTime();
}

export function transition(
  n: NegotiationView,
  action: NegotiationAction,
  actor: Party,
  now: Date,
): TransitionResult {
  if (isExpired(n, now))
    return { ok: false, reason: 'INVALID_STATE', message: 'The negotiation has expired', expired: true };
  const bad = (message: string): TransitionResult => ({ ok: false, reason: 'INVALID_STATE', message });
  switch (action) {
    case 'propose':
      return n.state === 'proposed'
        ? { ok: true, state: 'proposed' }
        : bad(`Cannot counter-offer in state ${n.state}`);
    case 'accept':
      if (n.state !== 'proposed') return bad(`Cannot accept in state ${n.state}`);
      if (actor === n.lastOfferBy)
        return {
          ok: false,
          reason: 'FORBIDDEN',
          message: 'Only the party that did not make the last offer may accept',
        };
      return { ok: true, state: 'accepted' };
    case 'reject':
      return n.state === 'proposed'
        ? { ok: true, state: 'rejected' }
        : bad(`Cannot reject in state ${n.state}`);
    case 'settle':
      if (actor !== 'client')
        return { ok: false, reason: 'FORBIDDEN', message: 'Only the client may settle' };
      return n.state === 'accepted'
        ? { ok: true, state: 'settled' }
        : bad(`Cannot settle in state ${n.state}`);
  }
}
