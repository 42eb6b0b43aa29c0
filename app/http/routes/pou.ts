import type { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { IdParams } from '../../schemas/common.js';
import {
  AttestationBody,
  AttestationPage,
  DidParams,
  EmptyBody,
  IntentBody,
  Negotiation,
  NegotiationBody,
  OfferBody,
  Receipt,
  ReputationVector,
  SettleBody,
  StakeBody,
  TaskParams,
  WithdrawBody,
} from '../../schemas/pou.js';
import {
  actOnNegotiation,
  cancelIntent,
  createIntent,
  getIntent,
  getNegotiation,
  openNegotiation,
  settle,
} from '../../services/negotiation-service.js';
import {
  attest,
  finalize,
  getAttestations,
  getCommittee,
  getReceipt,
} from '../../services/receipt-service.js';
import { getReputation, stake, withdrawStake } from '../../services/reputation-service.js';
import { apiRead, defineRoute, routesAt, signedWrite, type RouteApp } from '../define-route.js';
import { errorResponse, jsonContent, looseJson as loose } from '../openapi.js';

const conflict = { 409: errorResponse('Illegal transition (INVALID_STATE)') };

/** Proof of usefulness: DID-signed writes, reads with a DID signature or an API key. */
export function pouRoutes(ctx: AppContext, app: RouteApp): Router {
  const routes = routesAt('/api', ['proof of usefulness'], app);
  const onNegotiation = { ...signedWrite, params: IdParams } as const;
  const onReceipt = { params: TaskParams } as const;

  defineRoute(
    routes,
    {
      ...signedWrite,
      path: '/intents',
      summary:
        "Open an intent (signed by the client); its budget is escrowed from the client's available balance",
      body: IntentBody,
      responses: {
        201: loose('Intent'),
        409: errorResponse('Not enough available funds (INSUFFICIENT_FUNDS)'),
      },
    },
    ({ did, body }) => createIntent(ctx, did, body),
  );
  defineRoute(
    routes,
    {
      ...apiRead,
      auth: 'did',
      path: '/intents/:id',
      summary: 'An intent (its client)',
      params: IdParams,
      responses: { 200: loose('Intent') },
    },
    ({ did, params }) => getIntent(ctx, did, params.id),
  );
  defineRoute(
    routes,
    {
      ...onNegotiation,
      path: '/intents/:id/cancel',
      summary: 'Cancel an open intent (its client): the escrow goes back to available',
      body: EmptyBody,
      responses: { 200: loose('Intent'), ...conflict },
    },
    ({ did, params }) => cancelIntent(ctx, did, params.id),
  );
  defineRoute(
    routes,
    {
      ...signedWrite,
      path: '/negotiations',
      summary: 'Offer on an intent (signed by a registered provider agent)',
      body: NegotiationBody,
      responses: { 201: jsonContent(Negotiation, 'Proposed'), ...conflict },
    },
    ({ did, body }) => openNegotiation(ctx, did, body),
  );
  defineRoute(
    routes,
    {
      ...apiRead,
      auth: 'did',
      path: '/negotiations/:id',
      summary: 'A negotiation (its parties)',
      params: IdParams,
      responses: { 200: jsonContent(Negotiation) },
    },
    ({ did, params }) => getNegotiation(ctx, did, params.id),
  );
  defineRoute(
    routes,
    {
      ...onNegotiation,
      path: '/negotiations/:id/propose',
      summary: 'Counter-offer (either party)',
      body: OfferBody,
      responses: { 200: jsonContent(Negotiation), ...conflict },
    },
    ({ did, params, body }) => actOnNegotiation(ctx, did, params.id, 'propose', body),
  );
  for (const [action, summary] of [
    ['accept', 'Accept (the party that did not make the last offer)'],
    ['reject', 'Reject (either party)'],
  ] as const) {
    defineRoute(
      routes,
      {
        ...onNegotiation,
        path: `/negotiations/:id/${action}`,
        summary,
        body: EmptyBody,
        responses: { 200: jsonContent(Negotiation), ...conflict },
      },
      ({ did, params }) => actOnNegotiation(ctx, did, params.id, action),
    );
  }
  defineRoute(
    routes,
    {
      ...onNegotiation,
      path: '/negotiations/:id/settle',
      summary: 'Settle an accepted negotiation (client): receipt, committee and credit split',
      body: SettleBody,
      responses: { 201: jsonContent(Receipt, 'Receipt'), ...conflict },
    },
    ({ did, params, body }) => settle(ctx, did, params.id, body),
  );

  defineRoute(
    routes,
    {
      ...onReceipt,
      ...apiRead,
      auth: 'none',
      path: '/receipts/:task_id/committee',
      summary: 'Committee, seed and weights (no signature needed)',
      responses: { 200: loose('Committee') },
    },
    ({ params }) => getCommittee(ctx, params.task_id),
  );
  defineRoute(
    routes,
    {
      ...onReceipt,
      method: 'post',
      auth: 'none',
      limit: 'finalize',
      path: '/receipts/:task_id/finalize',
      summary: 'Finalize by quorum (no signature needed; idempotent)',
      responses: {
        200: jsonContent(z.object({ ok: z.literal(true), status: z.string() })),
        409: errorResponse('QUORUM_NOT_MET with needed and have'),
      },
    },
    ({ params }) => finalize(ctx, params.task_id),
  );
  defineRoute(
    routes,
    {
      ...onReceipt,
      ...apiRead,
      auth: 'did-or-api-key',
      path: '/receipts/:task_id',
      summary: 'A receipt with attestation counts and its first 100 attestations',
      responses: { 200: jsonContent(Receipt) },
    },
    ({ params }) => getReceipt(ctx, params.task_id),
  );
  defineRoute(
    routes,
    {
      ...onReceipt,
      ...apiRead,
      auth: 'did-or-api-key',
      path: '/receipts/:task_id/attestations',
      summary: 'Attestations, paged',
      query: AttestationPage,
      responses: { 200: loose('Page') },
    },
    ({ params, query }) => getAttestations(ctx, params.task_id, query.limit, query.offset),
  );
  defineRoute(
    routes,
    {
      ...onReceipt,
      ...signedWrite,
      path: '/receipts/:task_id/attestations',
      summary: 'Attest (client: ACCEPTED/REJECTED; committee: AUDIT_*/SAFETY_*)',
      body: AttestationBody,
      responses: {
        201: loose('Attestation'),
        409: errorResponse('DUPLICATE_ATTESTATION or receipt closed'),
      },
    },
    ({ did, params, body }) => attest(ctx, did, params.task_id, body),
  );

  defineRoute(
    routes,
    {
      ...apiRead,
      auth: 'did-or-api-key',
      path: '/reputation/:did',
      summary: 'Seven-dimension reputation',
      params: DidParams,
      responses: { 200: jsonContent(ReputationVector) },
    },
    ({ params }) => getReputation(ctx, params.did),
  );
  defineRoute(
    routes,
    {
      ...signedWrite,
      path: '/stakes',
      summary: 'Move available funds into stake and lock it (signed by a registered agent)',
      body: StakeBody,
      responses: {
        201: loose('Stake'),
        409: errorResponse('Not enough available funds (INSUFFICIENT_FUNDS)'),
      },
    },
    ({ did, body }) => stake(ctx, did, body),
  );
  defineRoute(
    routes,
    {
      ...signedWrite,
      path: '/stakes/withdraw',
      summary: 'Move stake back to available once its lock has passed',
      body: WithdrawBody,
      responses: {
        200: loose('Stake'),
        409: errorResponse('Still locked (STAKE_LOCKED) or more than the stake (INSUFFICIENT_FUNDS)'),
      },
    },
    ({ did, body }) => withdrawStake(ctx, did, body),
  );
  return routes.router;
}
