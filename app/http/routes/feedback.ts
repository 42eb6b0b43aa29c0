import type { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import {
  Feedback,
  FeedbackBody,
  FeedbackParams,
  FeedbackResponseBody,
  LinkPaymentBody,
  Payment,
  RequestHashParams,
  ValidationResponseBody,
} from '../../schemas/registry.js';
import { giveFeedback, respondToFeedback, revokeGivenFeedback } from '../../services/feedback-service.js';
import { linkAgentPayment } from '../../services/payments-service.js';
import { respondToValidation } from '../../services/validations-service.js';
import { defineRoute, routesAt, type RouteApp } from '../define-route.js';
import { errorResponse, jsonContent } from '../openapi.js';

/** Writes that are not under one agent's path, plus the per-feedback routes. */
export function feedbackRoutes(ctx: AppContext, app: RouteApp): Router {
  const routes = routesAt('/api/v1/agents', ['registry'], app);
  const write = { method: 'post', auth: 'api-key', limit: 'write' } as const;

  defineRoute(
    routes,
    {
      method: 'post',
      path: '/feedback',
      summary: 'Give feedback as the API key address (feedback_index is per agent and client, from 1)',
      auth: 'api-key',
      limit: 'feedback',
      body: FeedbackBody,
      responses: { 201: jsonContent(Feedback, 'Recorded'), 404: errorResponse('No such agent') },
    },
    ({ key, body }) => giveFeedback(ctx, key, body),
  );
  defineRoute(
    routes,
    {
      ...write,
      path: '/:id/feedback/:client_address/:index/revoke',
      summary: "Revoke a feedback (that client's key, once)",
      params: FeedbackParams,
      responses: {
        200: jsonContent(z.object({ revoked: z.literal(true) }).loose()),
        404: errorResponse('No such feedback'),
        409: errorResponse('Already revoked'),
      },
    },
    ({ key, params }) => revokeGivenFeedback(ctx, key, params),
  );
  defineRoute(
    routes,
    {
      ...write,
      path: '/:id/feedback/:client_address/:index/responses',
      summary: 'Append a response to a feedback (any key)',
      params: FeedbackParams,
      body: FeedbackResponseBody,
      responses: {
        201: jsonContent(z.object({ id: z.string() }).loose(), 'Recorded'),
        404: errorResponse('No such feedback'),
      },
    },
    ({ key, params, body }) => respondToFeedback(ctx, key, { ...params, ...body }),
  );
  defineRoute(
    routes,
    {
      method: 'post',
      path: '/link-payment',
      summary: 'Link an on-chain payment to an agent (idempotent for the same agent)',
      auth: 'api-key',
      limit: 'link_payment',
      body: LinkPaymentBody,
      responses: {
        201: jsonContent(Payment, 'Linked'),
        200: jsonContent(Payment, 'Already linked to this agent'),
        409: errorResponse('Linked to another agent'),
      },
    },
    async ({ key, body, res }) => {
      const { created, payment } = await linkAgentPayment(ctx, key, body);
      res.status(created ? 201 : 200).json(payment);
    },
  );
  defineRoute(
    routes,
    {
      ...write,
      path: '/validations/:request_hash/responses',
      summary: 'Respond to a validation request (only the named validator; the latest response counts)',
      params: RequestHashParams,
      body: ValidationResponseBody,
      responses: {
        201: jsonContent(z.object({ response: z.number() }).loose(), 'Recorded'),
        404: errorResponse('No such request'),
      },
    },
    ({ key, params, body }) => respondToValidation(ctx, key, params.request_hash, body),
  );
  return routes.router;
}
