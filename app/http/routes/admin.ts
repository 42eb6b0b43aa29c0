import type { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { ApiKey, CreatedKey, CreateKeyBody, SystemLedger, WithdrawalBody } from '../../schemas/admin.js';
import { IdParams, Pagination } from '../../schemas/common.js';
import { DepositBody, SlashBody } from '../../schemas/pou.js';
import { createApiKey, listKeys, revokeKey } from '../../services/api-keys-service.js';
import { deposit, systemLedger, withdraw } from '../../services/ledger-service.js';
import { slash } from '../../services/reputation-service.js';
import { defineRoute, routesAt, type RouteApp } from '../define-route.js';
import { errorResponse, jsonContent } from '../openapi.js';

export function adminRoutes(ctx: AppContext, app: RouteApp, forgetKey: (hash: string) => void): Router {
  const routes = routesAt('/api/admin', ['admin'], app);

  defineRoute(
    routes,
    {
      method: 'post',
      path: '/api-keys',
      summary: 'Create an API key acting for one address (the key is shown only in this response)',
      auth: 'admin',
      limit: 'admin',
      body: CreateKeyBody,
      responses: { 201: jsonContent(CreatedKey, 'Created') },
    },
    ({ body }) => createApiKey(ctx, body),
  );
  defineRoute(
    routes,
    {
      method: 'get',
      path: '/api-keys',
      summary: 'List API keys (never the keys themselves)',
      auth: 'admin',
      limit: 'admin',
      query: Pagination,
      responses: {
        200: jsonContent(
          z.object({ api_keys: z.array(ApiKey), total: z.number(), limit: z.number(), offset: z.number() }),
        ),
      },
    },
    ({ query }) => listKeys(ctx, query.limit, query.offset),
  );
  defineRoute(
    routes,
    {
      method: 'delete',
      path: '/api-keys/:id',
      summary: 'Revoke an API key',
      auth: 'admin',
      limit: 'admin',
      params: IdParams,
      responses: { 200: jsonContent(ApiKey), 404: errorResponse('No such key') },
    },
    async ({ params }) => {
      const { record, hash } = await revokeKey(ctx, params.id);
      forgetKey(hash);
      return record;
    },
  );
  defineRoute(
    routes,
    {
      method: 'post',
      path: '/slash',
      summary:
        'Slash an agent: reduce its locked stake (never below zero) and multiply its reputation by 0.9',
      auth: 'admin',
      limit: 'admin',
      body: SlashBody,
      responses: {
        200: jsonContent(z.object({ applied_atomic: z.string(), locked_atomic: z.string() }).loose()),
      },
    },
    ({ body }) => slash(ctx, body),
  );
  defineRoute(
    routes,
    {
      method: 'post',
      path: '/deposits',
      summary:
        "Deposit funds: treasury → the DID's available balance, idempotent by reference (the same reference with another DID or amount is 409)",
      auth: 'admin',
      limit: 'admin',
      body: DepositBody,
      responses: {
        201: jsonContent(
          z.object({ transfer: z.object({ id: z.string() }).loose(), replayed: z.boolean() }).loose(),
        ),
        409: errorResponse('Reference already used for another deposit (REFERENCE_REUSED)'),
      },
    },
    ({ body }) => deposit(ctx, body),
  );
  defineRoute(
    routes,
    {
      method: 'post',
      path: '/withdrawals',
      summary:
        "Withdraw funds: the DID's available balance → treasury, idempotent by reference (the same reference with another DID or amount is 409)",
      auth: 'admin',
      limit: 'admin',
      body: WithdrawalBody,
      responses: {
        201: jsonContent(
          z.object({ transfer: z.object({ id: z.string() }).loose(), replayed: z.boolean() }).loose(),
        ),
        409: errorResponse(
          'More than the available balance (INSUFFICIENT_FUNDS), or the reference already used for another withdrawal (REFERENCE_REUSED)',
        ),
      },
    },
    ({ body }) => withdraw(ctx, body),
  );
  defineRoute(
    routes,
    {
      method: 'get',
      path: '/ledger/system',
      summary:
        "The system accounts' balances (treasury, broker, validators, pool) in atomic units: where deposits come from and withdrawals go, and the fee shares of every settlement",
      auth: 'admin',
      limit: 'admin',
      responses: { 200: jsonContent(SystemLedger) },
    },
    () => systemLedger(ctx),
  );
  return routes.router;
}
