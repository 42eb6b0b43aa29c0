import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { giveFeedback, respondToFeedback, revokeGivenFeedback } from '../../services/feedback-service.js';
import { linkAgentPayment } from '../../services/payments-service.js';
import { respondToValidation } from '../../services/validations-service.js';
import { callerKey } from '../middleware/auth.js';
import type { LimitClass } from '../middleware/rate-limit.js';
import { documentRoute, errorResponse, jsonContent } from '../openapi.js';
import {
  Feedback,
  FeedbackBody,
  FeedbackParams,
  FeedbackResponseBody,
  LinkPaymentBody,
  Payment,
  RequestHashParams,
  ValidationResponseBody,
} from '../schemas/registry.js';
import { parse } from '../validate.js';

const tags = ['registry'];
documentRoute('post', '/api/v1/agents/feedback', {
  summary: 'Give feedback as the API key address (feedback_index is per agent and client, from 1)',
  tags,
  security: 'apiKey',
  body: FeedbackBody,
  responses: { 201: jsonContent(Feedback, 'Recorded'), 404: errorResponse('No such agent') },
});
documentRoute('post', '/api/v1/agents/:id/feedback/:client_address/:index/revoke', {
  summary: "Revoke a feedback (that client's key, once)",
  tags,
  security: 'apiKey',
  params: FeedbackParams,
  responses: {
    200: jsonContent(z.object({ revoked: z.literal(true) }).loose()),
    404: errorResponse('No such feedback'),
    409: errorResponse('Already revoked'),
  },
});
documentRoute('post', '/api/v1/agents/:id/feedback/:client_address/:index/responses', {
  summary: 'Append a response to a feedback (any key)',
  tags,
  security: 'apiKey',
  params: FeedbackParams,
  body: FeedbackResponseBody,
  responses: {
    201: jsonContent(z.object({ id: z.string() }).loose(), 'Recorded'),
    404: errorResponse('No such feedback'),
  },
});
documentRoute('post', '/api/v1/agents/link-payment', {
  summary: 'Link an on-chain payment to an agent (idempotent for the same agent)',
  tags,
  security: 'apiKey',
  body: LinkPaymentBody,
  responses: {
    201: jsonContent(Payment, 'Linked'),
    200: jsonContent(Payment, 'Already linked to this agent'),
    409: errorResponse('Linked to another agent'),
  },
});
documentRoute('post', '/api/v1/agents/validations/:request_hash/responses', {
  summary: 'Respond to a validation request (only the named validator; the latest response counts)',
  tags,
  security: 'apiKey',
  params: RequestHashParams,
  body: ValidationResponseBody,
  responses: {
    201: jsonContent(z.object({ response: z.number() }).loose(), 'Recorded'),
    404: errorResponse('No such request'),
  },
});

/** Writes that are not under one agent's path, plus the per-feedback routes. */
export function feedbackRoutes(ctx: AppContext, limit: Record<LimitClass, RequestHandler>): Router {
  const router = Router();

  router.post('/feedback', limit.feedback, async (req, res) => {
    res.status(201).json(await giveFeedback(ctx, callerKey(res), parse(FeedbackBody, req.body, 'body')));
  });

  router.post('/:id/feedback/:client_address/:index/revoke', limit.write, async (req, res) => {
    const key = callerKey(res);
    res.json(await revokeGivenFeedback(ctx, key, parse(FeedbackParams, req.params, 'params')));
  });

  router.post('/:id/feedback/:client_address/:index/responses', limit.write, async (req, res) => {
    const key = callerKey(res);
    const params = parse(FeedbackParams, req.params, 'params');
    const body = parse(FeedbackResponseBody, req.body, 'body');
    res.status(201).json(await respondToFeedback(ctx, key, { ...params, ...body }));
  });

  router.post('/link-payment', limit.link_payment, async (req, res) => {
    const { created, payment } = await linkAgentPayment(
      ctx,
      callerKey(res),
      parse(LinkPaymentBody, req.body, 'body'),
    );
    res.status(created ? 201 : 200).json(payment);
  });

  router.post('/validations/:request_hash/responses', limit.write, async (req, res) => {
    const key = callerKey(res);
    const { request_hash } = parse(RequestHashParams, req.params, 'params');
    res
      .status(201)
      .json(
        await respondToValidation(ctx, key, request_hash, parse(ValidationResponseBody, req.body, 'body')),
      );
  });

  return router;
}
