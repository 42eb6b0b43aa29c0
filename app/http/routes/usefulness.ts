import type { Router } from 'express';
import type { AppContext } from '../../context.js';
import { Pagination } from '../../schemas/common.js';
import { DidParams, DiscoveryQuery, ProofBody } from '../../schemas/pou.js';
import { discover } from '../../services/discovery-service.js';
import { credits } from '../../services/ledger-service.js';
import { submitProof, usefulness } from '../../services/usefulness-service.js';
import { apiRead, defineRoute, routesAt, signedWrite, type RouteApp } from '../define-route.js';
import { errorResponse, looseJson as loose } from '../openapi.js';

export function usefulnessRoutes(ctx: AppContext, app: RouteApp): Router {
  const routes = routesAt('/api', ['usefulness, credits, discovery'], app);
  const read = { ...apiRead, auth: 'did-or-api-key' } as const;

  defineRoute(
    routes,
    {
      ...signedWrite,
      path: '/usefulness/proofs',
      summary: 'Submit a usefulness proof (signed by a registered agent)',
      body: ProofBody,
      responses: { 201: loose('Proof'), 409: errorResponse('trace_id already used') },
    },
    ({ did, body }) => submitProof(ctx, did, body),
  );
  defineRoute(
    routes,
    {
      ...read,
      path: '/usefulness/:did',
      summary: "An agent's usefulness",
      params: DidParams,
      responses: { 200: loose('Usefulness') },
    },
    ({ params }) => usefulness(ctx, params.did),
  );
  defineRoute(
    routes,
    {
      ...read,
      path: '/credits/:did',
      summary: 'Balances (available, escrow, stake) and transfers of a DID (paged, newest first)',
      params: DidParams,
      query: Pagination,
      responses: { 200: loose('Credits') },
    },
    ({ params, query }) => credits(ctx, params.did, query.limit, query.offset),
  );
  defineRoute(
    routes,
    {
      ...read,
      path: '/discovery',
      summary: 'Agents ranked by relevance, trust and usefulness',
      query: DiscoveryQuery,
      responses: {
        200: loose(
          'Ranked agents, best first (ties by id), each with discovery {score, relevance, trust, usefulness}: ' +
            'score = 0.6·relevance + 0.3·trust + 0.1·usefulness/100 (weights configurable); relevance as q says',
        ),
      },
    },
    ({ query }) => discover(ctx, query),
  );
  return routes.router;
}
