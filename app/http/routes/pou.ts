import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import {
  actOnNegotiation,
  createIntent,
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
import { getReputation, stake } from '../../services/reputation-service.js';
import { requireCaller } from '../middleware/caller.js';
import { callerDid } from '../middleware/did-auth.js';
import { documentRoute, errorResponse, jsonContent } from '../openapi.js';
import { IdParams } from '../schemas/common.js';
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
} from '../schemas/pou.js';
import { parse } from '../validate.js';

const tags = ['proof of usefulness'];
const signed = { security: 'did' as const, tags };
const conflict = { 409: errorResponse('Illegal transition (INVALID_STATE)') };
const loose = (description: string) => jsonContent(z.object({}).loose(), description);

documentRoute('post', '/api/intents', {
  ...signed,
  summary: 'Open an intent (signed by the client)',
  body: IntentBody,
  responses: { 201: loose('Intent') },
});
documentRoute('post', '/api/negotiations', {
  ...signed,
  summary: 'Offer on an intent (signed by a registered provider agent)',
  body: NegotiationBody,
  responses: { 201: jsonContent(Negotiation, 'Proposed'), ...conflict },
});
documentRoute('get', '/api/negotiations/:id', {
  ...signed,
  summary: 'A negotiation (its parties)',
  params: IdParams,
  responses: { 200: jsonContent(Negotiation) },
});
for (const [action, summary, body] of [
  ['propose', 'Counter-offer (either party)', OfferBody],
  ['accept', 'Accept (the party that did not make the last offer)', EmptyBody],
  ['reject', 'Reject (either party)', EmptyBody],
] as const) {
  documentRoute('post', `/api/negotiations/:id/${action}`, {
    ...signed,
    summary,
    params: IdParams,
    body,
    responses: { 200: jsonContent(Negotiation), ...conflict },
  });
}
documentRoute('post', '/api/negotiations/:id/settle', {
  ...signed,
  summary: 'Settle an accepted negotiation (client): receipt, committee and credit split',
  params: IdParams,
  body: SettleBody,
  responses: { 201: jsonContent(Receipt, 'Receipt'), ...conflict },
});
documentRoute('get', '/api/receipts/:task_id', {
  ...signed,
  summary: 'A receipt with attestation counts and its first 100 attestations',
  params: TaskParams,
  responses: { 200: jsonContent(Receipt) },
});
documentRoute('get', '/api/receipts/:task_id/attestations', {
  ...signed,
  summary: 'Attestations, paged',
  params: TaskParams,
  query: AttestationPage,
  responses: { 200: loose('Page') },
});
documentRoute('get', '/api/receipts/:task_id/committee', {
  tags,
  summary: 'Committee, seed and weights (no signature needed)',
  params: TaskParams,
  responses: { 200: loose('Committee') },
});
documentRoute('post', '/api/receipts/:task_id/attestations', {
  ...signed,
  summary: 'Attest (client: ACCEPTED/REJECTED; committee: AUDIT_*/SAFETY_*)',
  params: TaskParams,
  body: AttestationBody,
  responses: { 201: loose('Attestation'), 409: errorResponse('DUPLICATE_ATTESTATION or receipt closed') },
});
documentRoute('post', '/api/receipts/:task_id/finalize', {
  tags,
  summary: 'Finalize by quorum (no signature needed; idempotent)',
  params: TaskParams,
  responses: {
    200: jsonContent(z.object({ ok: z.literal(true), status: z.string() })),
    409: errorResponse('QUORUM_NOT_MET with needed and have'),
  },
});
documentRoute('get', '/api/reputation/:did', {
  ...signed,
  summary: 'Seven-dimension reputation',
  params: DidParams,
  responses: { 200: jsonContent(ReputationVector) },
});
documentRoute('post', '/api/stakes', {
  ...signed,
  summary: 'Lock stake (signed by a registered agent)',
  body: StakeBody,
  responses: { 201: loose('Stake') },
});

/** Proof of usefulness: DID-signed writes, reads with a DID signature or an API key. */
export function pouRoutes(ctx: AppContext): Router {
  const router = Router();
  const id = (p: unknown) => parse(IdParams, p, 'params').id;
  const task = (p: unknown) => parse(TaskParams, p, 'params').task_id;

  router.post('/intents', async (req, res) => {
    const did = callerDid(res);
    res.status(201).json(await createIntent(ctx, did, parse(IntentBody, req.body, 'body')));
  });
  router.post('/negotiations', async (req, res) => {
    const did = callerDid(res);
    res.status(201).json(await openNegotiation(ctx, did, parse(NegotiationBody, req.body, 'body')));
  });
  router.get('/negotiations/:id', async (req, res) => {
    res.json(await getNegotiation(ctx, callerDid(res), id(req.params)));
  });
  router.post('/negotiations/:id/propose', async (req, res) => {
    const did = callerDid(res);
    res.json(await actOnNegotiation(ctx, did, id(req.params), 'propose', parse(OfferBody, req.body, 'body')));
  });
  for (const action of ['accept', 'reject'] as const) {
    router.post(`/negotiations/:id/${action}`, async (req, res) => {
      const did = callerDid(res);
      parse(EmptyBody, req.body, 'body');
      res.json(await actOnNegotiation(ctx, did, id(req.params), action));
    });
  }
  router.post('/negotiations/:id/settle', async (req, res) => {
    const did = callerDid(res);
    res.status(201).json(await settle(ctx, did, id(req.params), parse(SettleBody, req.body, 'body')));
  });

  router.get('/receipts/:task_id/committee', async (req, res) => {
    res.json(await getCommittee(ctx, task(req.params)));
  });
  router.post('/receipts/:task_id/finalize', async (req, res) => {
    res.json(await finalize(ctx, task(req.params)));
  });
  router.get('/receipts/:task_id', requireCaller, async (req, res) => {
    res.json(await getReceipt(ctx, task(req.params)));
  });
  router.get('/receipts/:task_id/attestations', requireCaller, async (req, res) => {
    const { limit, offset } = parse(AttestationPage, req.query, 'query');
    res.json(await getAttestations(ctx, task(req.params), limit, offset));
  });
  router.post('/receipts/:task_id/attestations', async (req, res) => {
    const did = callerDid(res);
    res.status(201).json(await attest(ctx, did, task(req.params), parse(AttestationBody, req.body, 'body')));
  });

  router.get('/reputation/:did', requireCaller, async (req, res) => {
    res.json(await getReputation(ctx, parse(DidParams, req.params, 'params').did));
  });
  router.post('/stakes', async (req, res) => {
    const did = callerDid(res);
    res.status(201).json(await stake(ctx, did, parse(StakeBody, req.body, 'body')));
  });
  return router;
}
