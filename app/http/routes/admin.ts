import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { createApiKey, listKeys, revokeKey } from '../../services/api-keys-service.js';
import { slash } from '../../services/reputation-service.js';
import { SlashBody } from '../schemas/pou.js';
import { adminAuth } from '../middleware/auth.js';
import { documentRoute, errorResponse, jsonContent } from '../openapi.js';
import { Address, IdParams, Pagination } from '../schemas/common.js';
import { parse } from '../validate.js';

const CreateKeyBody = z.strictObject({ name: z.string().trim().min(1).max(100), address: Address });
const ApiKey = z.object({
  id: z.string(),
  prefix: z.string(),
  name: z.string(),
  address: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
const CreatedKey = ApiKey.omit({ revoked_at: true }).extend({ key: z.string() });

documentRoute('post', '/api/admin/api-keys', {
  summary: 'Create an API key acting for one address (the key is shown only in this response)',
  tags: ['admin'],
  security: 'admin',
  body: CreateKeyBody,
  responses: { 201: jsonContent(CreatedKey, 'Created') },
});
documentRoute('get', '/api/admin/api-keys', {
  summary: 'List API keys (never the keys themselves)',
  tags: ['admin'],
  security: 'admin',
  query: Pagination,
  responses: {
    200: jsonContent(
      z.object({ api_keys: z.array(ApiKey), total: z.number(), limit: z.number(), offset: z.number() }),
    ),
  },
});
documentRoute('delete', '/api/admin/api-keys/:id', {
  summary: 'Revoke an API key',
  tags: ['admin'],
  security: 'admin',
  params: IdParams,
  responses: { 200: jsonContent(ApiKey), 404: errorResponse('No such key') },
});

documentRoute('post', '/api/admin/slash', {
  summary: 'Slash an agent: reduce its locked stake (never below zero) and multiply its reputation by 0.9',
  tags: ['admin'],
  security: 'admin',
  body: SlashBody,
  responses: {
    200: jsonContent(z.object({ applied_atomic: z.string(), locked_atomic: z.string() }).loose()),
  },
});

export function adminRoutes(ctx: AppContext, forgetKey: (hash: string) => void): Router {
  const router = Router();
  router.use(adminAuth(ctx));

  router.post('/api-keys', async (req, res) => {
    res.status(201).json(await createApiKey(ctx, parse(CreateKeyBody, req.body, 'body')));
  });
  router.get('/api-keys', async (req, res) => {
    const { limit, offset } = parse(Pagination, req.query, 'query');
    res.json(await listKeys(ctx, limit, offset));
  });
  router.delete('/api-keys/:id', async (req, res) => {
    const { id } = parse(IdParams, req.params, 'params');
    const { record, hash } = await revokeKey(ctx, id);
    forgetKey(hash);
    res.json(record);
  });
  router.post('/slash', async (req, res) => {
    res.json(await slash(ctx, parse(SlashBody, req.body, 'body')));
  });
  return router;
}
