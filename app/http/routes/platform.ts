import type { Response, Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { probeDependencies } from '../../data/health-probe.js';
import { isReady, overallStatus, type HealthChecks, type HealthStatus } from '../../domain/health.js';
import { defineRoute, routesAt, type RouteApp } from '../define-route.js';
import { jsonContent, openApiDocument } from '../openapi.js';

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
const text = (description: string, type: string) => ({
  description,
  content: { [type]: { schema: z.string() } },
});

/** The oldest dependency check a probe answers with. */
const PROBE_MAX_AGE_MS = 1000;

/**
 * The dependency checks, made at most once per `maxAgeMs` for each kind (all, or the database
 * alone), however many probes ask: concurrent probes share the check in flight, later ones reuse
 * its result until it is `maxAgeMs` old. A probe loop, many kubelets or a flood of /health cost the
 * dependencies one check a second instead of one per request (3,600 /health a second each ran
 * PostgreSQL, Valkey, NATS and migration checks). Draining is read live by /ready, never cached.
 */
function probeAtMostEvery(ctx: AppContext, maxAgeMs: number) {
  const last = new Map<'all' | 'database', { at: number; checks: Promise<HealthChecks> }>();
  return (which: 'all' | 'database'): Promise<HealthChecks> => {
    const hit = last.get(which);
    if (hit && Date.now() - hit.at < maxAgeMs) return hit.checks;
    const checks = probeDependencies(ctx, which);
    last.set(which, { at: Date.now(), checks });
    return checks;
  };
}

/**
 * Probes, metrics and the API's own documents: no credentials, no input. The ones that do work
 * (every dependency probed, the registry serialized, the document built) are limited per client IP
 * (`probe`, SPEC section 10 v3). `/live` and `/ready` are not: the kubelet calls them for every pod
 * from its node's one address, and a 429 there would restart or unroute healthy pods. Nor is
 * `/docs`, static HTML served before any route (like `/live`, it costs what a 429 would).
 */
export function platformRoutes(ctx: AppContext, app: RouteApp): Router {
  const routes = routesAt('', ['platform'], app);
  const probe = probeAtMostEvery(ctx, PROBE_MAX_AGE_MS);
  const unlimited = { method: 'get', auth: 'none' } as const;
  const limited = { ...unlimited, limit: 'probe' } as const;
  /** Both health routes: every dependency probed, 503 when unhealthy, the body in the route's shape. */
  const health = async (
    res: Response,
    shape: (status: HealthStatus, checks: HealthChecks) => Record<string, unknown>,
  ) => {
    const checks = await probe('all');
    const status = overallStatus(checks);
    const body = { ...shape(status, checks), timestamp: new Date().toISOString() };
    res.status(status === 'unhealthy' ? 503 : 200).json(body);
  };

  defineRoute(
    routes,
    {
      ...unlimited,
      path: '/live',
      summary: 'Liveness',
      responses: { 200: jsonContent(z.object({ alive: z.literal(true) })) },
    },
    () => ({ alive: true }),
  );
  defineRoute(
    routes,
    {
      ...limited,
      path: '/health',
      summary: 'Overall health and each dependency (503 when unhealthy)',
      responses: { 200: jsonContent(HealthBody), 503: jsonContent(HealthBody, 'Unhealthy') },
    },
    ({ res }) => health(res, (status, checks) => ({ status, version: ctx.version, checks })),
  );
  defineRoute(
    routes,
    {
      ...unlimited,
      path: '/ready',
      summary: 'Readiness: database answers, migrations at head, not draining',
      responses: { 200: jsonContent(ReadyBody), 503: jsonContent(ReadyBody, 'Not ready') },
    },
    async ({ res }) => {
      if (ctx.state.draining) return void res.status(503).json({ ready: false, reason: 'draining' });
      const checks = await probe('database');
      const ready = isReady(checks, ctx.state.draining);
      const reason = `database ${checks.database}, migrations ${checks.migrations}`;
      res.status(ready ? 200 : 503).json(ready ? { ready } : { ready, reason });
    },
  );
  defineRoute(
    routes,
    {
      ...limited,
      path: '/api/v1/agents/health',
      tags: ['registry'],
      summary: 'Registry health',
      responses: { 200: jsonContent(AgentsHealthBody), 503: jsonContent(AgentsHealthBody, 'Unhealthy') },
    },
    ({ res }) => health(res, (status, { database, redis }) => ({ status, database, redis })),
  );
  // With METRICS_PORT set, /metrics is served on that port only (server.ts), never on the API port
  // an Ingress exposes.
  if (ctx.env.METRICS_PORT === undefined)
    defineRoute(
      routes,
      {
        ...limited,
        path: '/metrics',
        summary: 'Prometheus metrics (text exposition format)',
        responses: { 200: text('Prometheus text', 'text/plain') },
      },
      async ({ res }) => {
        res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
      },
    );

  let document: unknown;
  defineRoute(
    routes,
    {
      ...limited,
      path: '/openapi.json',
      summary: 'This document (OpenAPI 3.1, generated from the schemas that validate requests)',
      responses: { 200: jsonContent(z.object({ openapi: z.literal('3.1.0') }).loose()) },
    },
    // Built on first request, when every route of the app has been declared.
    () => (document ??= openApiDocument(app.openapi, ctx.version)),
  );
  routes.router.use('/docs', swaggerUi.serve);
  const docs = swaggerUi.setup(undefined, { swaggerOptions: { url: '/openapi.json' } });
  defineRoute(
    routes,
    {
      ...unlimited,
      path: '/docs',
      summary: 'Human docs (Swagger UI) for this document',
      responses: { 200: text('Swagger UI page', 'text/html') },
    },
    ({ req, res }) => void docs(req, res, () => undefined),
  );

  // Not an Express route: the upgrade listener of app/ws serves it. Documented here with the rest.
  app.openapi.registerPath({
    method: 'get',
    path: '/ws',
    tags: ['realtime'],
    summary:
      'WebSocket upgrade: events for the connected identity (API key or DID signature over GET /ws); ?last_event_id=N resumes',
    responses: {
      101: { description: 'Switching protocols; messages are {id, event_id, type, payload, created_at}' },
      401: { description: 'Missing, unknown or forged credentials' },
    },
    'x-ainp-auth': 'did-or-api-key',
  });
  return routes.router;
}
