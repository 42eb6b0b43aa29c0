import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { discover } from '../../services/discovery-service.js';
import { credits, submitProof, usefulness } from '../../services/usefulness-service.js';
import { requireCaller } from '../middleware/caller.js';
import { callerDid } from '../middleware/did-auth.js';
import { documentRoute, errorResponse, jsonContent } from '../openapi.js';
import { Pagination } from '../schemas/common.js';
import { DidParams, DiscoveryQuery, ProofBody } from '../schemas/pou.js';
import { parse } from '../validate.js';

const tags = ['usefulness, credits, discovery'];
const loose = (d: string) => jsonContent(z.object({}).loose(), d);
documentRoute('post', '/api/usefulness/proofs', {
  tags,
  security: 'did',
  summary: 'Submit a usefulness proof (signed by a registered agent)',
  body: ProofBody,
  responses: { 201: loose('Proof'), 409: errorResponse('trace_id already used') },
});
documentRoute('get', '/api/usefulness/:did', {
  tags,
  security: 'did',
  summary: "An agent's usefulness",
  params: DidParams,
  responses: { 200: loose('Usefulness') },
});
documentRoute('get', '/api/credits/:did', {
  tags,
  security: 'did',
  summary: 'Credit balance and ledger (paged)',
  params: DidParams,
  query: Pagination,
  responses: { 200: loose('Credits') },
});
documentRoute('get', '/api/discovery', {
  tags,
  security: 'did',
  summary: 'Agents ranked by relevance, trust and usefulness',
  query: DiscoveryQuery,
  responses: { 200: loose('Ranked agents') },
});

export function usefulnessRoutes(ctx: AppContext): Router {
  const router = Router();
  const did = (p: unknown) => parse(DidParams, p, 'params').did;

  router.post('/usefulness/proofs', async (req, res) => {
    const signer = callerDid(res);
    res.status(201).json(await submitProof(ctx, signer, parse(ProofBody, req.body, 'body')));
  });
  router.get('/usefulness/:did', requireCaller, async (req, res) => {
    res.json(await usefulness(ctx, did(req.params)));
  });
  router.get('/credits/:did', requireCaller, async (req, res) => {
    const { limit, offset } = parse(Pagination, req.query, 'query');
    res.json(await credits(ctx, did(req.params), limit, offset));
  });
  router.get('/discovery', requireCaller, async (req, res) => {
    res.json(await discover(ctx, parse(DiscoveryQuery, req.query, 'query')));
  });
  return router;
}
