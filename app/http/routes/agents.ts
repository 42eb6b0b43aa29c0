import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import {
  findAgents,
  patchAgent,
  registerAgent,
  registrationFile,
  requireAgent,
} from '../../services/agents-service.js';
import { reputation } from '../../services/feedback-service.js';
import { agentStats } from '../../services/stats-service.js';
import { summarizeValidations, requestValidation } from '../../services/validations-service.js';
import { callerKey } from '../middleware/auth.js';
import type { LimitClass } from '../middleware/rate-limit.js';
import { documentRoute, errorResponse, jsonContent } from '../openapi.js';
import { IdParams } from '../schemas/common.js';
import {
  Agent,
  AgentList,
  AgentStats,
  PatchAgentBody,
  RegisterAgentBody,
  RegistrationFile,
  Reputation,
  SearchAgentsQuery,
  ValidationRequestBody,
  ValidationSummaryQuery,
} from '../schemas/registry.js';
import { parse } from '../validate.js';

const tags = ['registry'];
const notFound = { 404: errorResponse('No such agent (NOT_FOUND)') };
documentRoute('post', '/api/v1/agents/register', {
  summary: 'Register an agent owned by the API key address',
  tags,
  security: 'apiKey',
  body: RegisterAgentBody,
  responses: {
    201: jsonContent(Agent, 'Registered'),
    409: errorResponse('DID already registered (CONFLICT)'),
  },
});
documentRoute('get', '/api/v1/agents', {
  summary: 'Search agents',
  tags,
  security: 'apiKey',
  query: SearchAgentsQuery,
  responses: { 200: jsonContent(AgentList) },
});
documentRoute('get', '/api/v1/agents/:id', {
  summary: 'Get an agent',
  tags,
  security: 'apiKey',
  params: IdParams,
  responses: { 200: jsonContent(Agent), ...notFound },
});
documentRoute('patch', '/api/v1/agents/:id', {
  summary: "Change an agent (a key of the owner's address)",
  tags,
  security: 'apiKey',
  params: IdParams,
  body: PatchAgentBody,
  responses: { 200: jsonContent(Agent), ...notFound },
});
documentRoute('get', '/api/v1/agents/:id/registration', {
  summary: 'The ERC-8004 registration file (registration-v1)',
  tags,
  security: 'apiKey',
  params: IdParams,
  responses: { 200: jsonContent(RegistrationFile), ...notFound },
});
documentRoute('get', '/api/v1/agents/:id/reputation', {
  summary: 'Feedback reputation summary (cached, invalidated by writes)',
  tags,
  security: 'apiKey',
  params: IdParams,
  responses: { 200: jsonContent(Reputation), ...notFound },
});
documentRoute('get', '/api/v1/agents/:id/stats', {
  summary: 'Feedback, payment and task statistics (cached, invalidated by writes)',
  tags,
  security: 'apiKey',
  params: IdParams,
  responses: { 200: jsonContent(AgentStats), ...notFound },
});
documentRoute('post', '/api/v1/agents/:id/validations', {
  summary: "Request validation of an agent (a key of the owner's address)",
  tags,
  security: 'apiKey',
  params: IdParams,
  body: ValidationRequestBody,
  responses: { 201: jsonContent(z.object({ request_hash: z.string() }).loose(), 'Requested'), ...notFound },
});
documentRoute('get', '/api/v1/agents/:id/validations/summary', {
  summary: 'Count and average of the latest validation responses',
  tags,
  security: 'apiKey',
  params: IdParams,
  query: ValidationSummaryQuery,
  responses: {
    200: jsonContent(z.object({ count: z.number(), average: z.number().nullable() })),
    ...notFound,
  },
});

/** Agent identity, search, reputation, stats and validation requests (per-agent routes). */
export function agentRoutes(ctx: AppContext, limit: Record<LimitClass, RequestHandler>): Router {
  const router = Router();

  router.post('/register', limit.register, async (req, res) => {
    res
      .status(201)
      .json(await registerAgent(ctx, callerKey(res), parse(RegisterAgentBody, req.body, 'body')));
  });

  router.get('/', limit.search, async (req, res) => {
    callerKey(res);
    res.json(await findAgents(ctx, parse(SearchAgentsQuery, req.query, 'query')));
  });

  router.get('/:id', limit.get, async (req, res) => {
    callerKey(res);
    res.json(await requireAgent(ctx, parse(IdParams, req.params, 'params').id));
  });

  router.patch('/:id', limit.write, async (req, res) => {
    const key = callerKey(res);
    const { id } = parse(IdParams, req.params, 'params');
    res.json(await patchAgent(ctx, key, id, parse(PatchAgentBody, req.body, 'body')));
  });

  router.get('/:id/registration', limit.get, async (req, res) => {
    callerKey(res);
    res.json(await registrationFile(ctx, parse(IdParams, req.params, 'params').id));
  });

  router.get('/:id/reputation', limit.get, async (req, res) => {
    callerKey(res);
    res.json(await reputation(ctx, parse(IdParams, req.params, 'params').id));
  });

  router.get('/:id/stats', limit.get, async (req, res) => {
    callerKey(res);
    res.json(await agentStats(ctx, parse(IdParams, req.params, 'params').id));
  });

  router.post('/:id/validations', limit.write, async (req, res) => {
    const key = callerKey(res);
    const { id } = parse(IdParams, req.params, 'params');
    res
      .status(201)
      .json(await requestValidation(ctx, key, id, parse(ValidationRequestBody, req.body, 'body')));
  });

  router.get('/:id/validations/summary', limit.get, async (req, res) => {
    callerKey(res);
    const { id } = parse(IdParams, req.params, 'params');
    res.json(await summarizeValidations(ctx, id, parse(ValidationSummaryQuery, req.query, 'query')));
  });

  return router;
}
