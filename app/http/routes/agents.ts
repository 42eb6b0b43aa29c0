import type { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { IdParams } from '../../schemas/common.js';
import {
  Agent,
  AgentList,
  AgentStats,
  FeedbackSummary,
  PatchAgentBody,
  RegisterAgentBody,
  RegistrationFile,
  SearchAgentsQuery,
  ValidationRequestBody,
  ValidationSummaryQuery,
} from '../../schemas/registry.js';
import {
  findAgents,
  patchAgent,
  registerAgent,
  readAgent,
  registrationFile,
} from '../../services/agents-service.js';
import { feedbackSummary } from '../../services/feedback-service.js';
import { agentStats } from '../../services/stats-service.js';
import { requestValidation, summarizeValidations } from '../../services/validations-service.js';
import { defineRoute, routesAt, type RouteApp } from '../define-route.js';
import { errorResponse, jsonContent } from '../openapi.js';

const notFound = { 404: errorResponse('No such agent (NOT_FOUND)') };

/** Agent identity, search, feedback summary, stats and validation requests (per-agent routes). */
export function agentRoutes(ctx: AppContext, app: RouteApp): Router {
  const routes = routesAt('/api/v1/agents', ['registry'], app);
  const read = { method: 'get', auth: 'api-key', limit: 'get', params: IdParams } as const;

  defineRoute(
    routes,
    {
      method: 'post',
      path: '/register',
      summary: 'Register an agent owned by the API key address',
      auth: 'api-key',
      limit: 'register',
      body: RegisterAgentBody,
      responses: {
        201: jsonContent(Agent, 'Registered'),
        409: errorResponse('DID already registered (CONFLICT)'),
      },
    },
    ({ key, body, res }) => registerAgent(ctx, key, body, res.locals.did),
  );
  defineRoute(
    routes,
    {
      method: 'get',
      path: '/',
      summary: 'Search agents',
      auth: 'api-key',
      limit: 'search',
      query: SearchAgentsQuery,
      responses: { 200: jsonContent(AgentList) },
    },
    ({ query }) => findAgents(ctx, query),
  );
  // The four reads of one agent by id differ only in what they load.
  for (const [path, summary, schema, load] of [
    ['/:id', 'Get an agent', Agent, readAgent],
    [
      '/:id/registration',
      'The ERC-8004 registration file (registration-v1)',
      RegistrationFile,
      registrationFile,
    ],
    [
      '/:id/reputation',
      'Feedback reputation summary (cached, invalidated by writes)',
      FeedbackSummary,
      feedbackSummary,
    ],
    [
      '/:id/stats',
      'Feedback, payment and task statistics (cached, invalidated by writes)',
      AgentStats,
      agentStats,
    ],
  ] as const) {
    defineRoute(
      routes,
      { ...read, path, summary, responses: { 200: jsonContent(schema), ...notFound } },
      ({ params }) => load(ctx, params.id),
    );
  }
  defineRoute(
    routes,
    {
      method: 'patch',
      path: '/:id',
      summary: "Change an agent (a key of the owner's address)",
      auth: 'api-key',
      limit: 'write',
      params: IdParams,
      body: PatchAgentBody,
      responses: { 200: jsonContent(Agent), ...notFound },
    },
    ({ key, params, body }) => patchAgent(ctx, key, params.id, body),
  );
  defineRoute(
    routes,
    {
      method: 'post',
      path: '/:id/validations',
      summary: "Request validation of an agent (a key of the owner's address)",
      auth: 'api-key',
      limit: 'write',
      params: IdParams,
      body: ValidationRequestBody,
      responses: {
        201: jsonContent(z.object({ request_hash: z.string() }).loose(), 'Requested'),
        ...notFound,
      },
    },
    ({ key, params, body }) => requestValidation(ctx, key, params.id, body),
  );
  defineRoute(
    routes,
    {
      ...read,
      path: '/:id/validations/summary',
      summary: 'Count and average of the latest validation responses',
      query: ValidationSummaryQuery,
      responses: {
        200: jsonContent(z.object({ count: z.number(), average: z.number().nullable() })),
        ...notFound,
      },
    },
    ({ params, query }) => summarizeValidations(ctx, params.id, query),
  );
  return routes.router;
}
