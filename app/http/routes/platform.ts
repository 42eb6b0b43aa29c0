import { Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { probeDependencies } from '../../data/health-probe.js';
import { isReady, overallStatus } from '../../domain/health.js';
import { jsonContent, openapi, openApiDocument } from '../openapi.js';

const Dependency = z.enum(['up', 'down', 'in_memory', 'in_process']);
const HealthBody = z.object({
  status: z.enum(['healthy', 'degraded', 'unhealthy']),
  version: z.string(),
  checks: z.object({
    database: z.enum(['up', 'down']),
    redis: Dependency,
    nats: Dependency,
    migrations: z.enum(['up_to_date', 'pending', 'modified', 'unknown']),
  }),
  timestamp: z.string(),
});
const ReadyBody = z.object({ ready: z.boolean(), reason: z.string().optional() });
const AgentsHealthBody = z.object({
  status: z.enum(['healthy', 'degraded', 'unhealthy']),
  database: z.enum(['up', 'down']),
  redis: Dependency,
  timestamp: z.string(),
});

openapi.registerPath({
  method: 'get',
  path: '/health',
  tags: ['platform'],
  summary: 'Overall health and each dependency (503 when unhealthy)',
  responses: { 200: jsonContent(HealthBody), 503: jsonContent(HealthBody, 'Unhealthy') },
});
openapi.registerPath({
  method: 'get',
  path: '/ready',
  tags: ['platform'],
  summary: 'Readiness: database answers, migrations at head, not draining',
  responses: { 200: jsonContent(ReadyBody), 503: jsonContent(ReadyBody, 'Not ready') },
});
openapi.registerPath({
  method: 'get',
  path: '/live',
  tags: ['platform'],
  summary: 'Liveness',
  responses: { 200: jsonContent(z.object({ alive: z.literal(true) })) },
});
openapi.registerPath({
  method: 'get',
  path: '/api/v1/agents/health',
  tags: ['registry'],
  summary: 'Registry health',
  responses: { 200: jsonContent(AgentsHealthBody), 503: jsonContent(AgentsHealthBody, 'Unhealthy') },
});
openapi.registerPath({
  method: 'get',
  path: '/metrics',
  tags: ['platform'],
  summary: 'Prometheus metrics (text exposition format)',
  responses: { 200: { description: 'Prometheus text', content: { 'text/plain': { schema: z.string() } } } },
});

openapi.registerPath({
  method: 'get',
  path: '/ws',
  tags: ['realtime'],
  summary:
    'WebSocket upgrade: events for the connected identity (API key or DID signature over GET /ws); ?last_event_id=N resumes',
  responses: {
    101: { description: 'Switching protocols; messages are {id, event_id, type, payload, created_at}' },
    401: { description: 'Missing, unknown or forged credentials' },
  },
});

export function platformRoutes(ctx: AppContext): Router {
  const router = Router();

  router.get('/live', (_req, res) => {
    res.json({ alive: true });
  });

  router.get('/health', async (_req, res) => {
    const checks = await probeDependencies(ctx);
    const status = overallStatus(checks);
    res
      .status(status === 'unhealthy' ? 503 : 200)
      .json({ status, version: ctx.version, checks, timestamp: new Date().toISOString() });
  });

  router.get('/ready', async (_req, res) => {
    if (ctx.state.draining) return void res.status(503).json({ ready: false, reason: 'draining' });
    const checks = await probeDependencies(ctx, 'database');
    const ready = isReady(checks, ctx.state.draining);
    res
      .status(ready ? 200 : 503)
      .json(
        ready ? { ready } : { ready, reason: `database ${checks.database}, migrations ${checks.migrations}` },
      );
  });

  router.get('/api/v1/agents/health', async (_req, res) => {
    const checks = await probeDependencies(ctx);
    const status = overallStatus(checks);
    res.status(status === 'unhealthy' ? 503 : 200).json({
      status,
      database: checks.database,
      redis: checks.redis,
      timestamp: new Date().toISOString(),
    });
  });

  router.get('/metrics', async (_req, res) => {
    res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });

  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(ctx.version));
  });

  router.use('/docs', swaggerUi.serve);
  router.get('/docs', swaggerUi.setup(undefined, { swaggerOptions: { url: '/openapi.json' } }));

  return router;
}
