import { OpenApiGeneratorV31, OpenAPIRegistry, extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

/**
 * The routes' zod schemas are registered here next to the handlers that validate with them, so
 * `/openapi.json` is generated from the very schemas that check requests.
 */
export const openapi = new OpenAPIRegistry();

export const ErrorBody = openapi.register(
  'Error',
  z.object({
    error: z.string().openapi({ example: 'VALIDATION_ERROR' }),
    message: z.string(),
    details: z.unknown().optional(),
    request_id: z.string(),
  }),
);

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorBody } },
});

/** The error responses every route can give, merged into each path's responses. */
export const commonErrors = {
  400: errorResponse('Invalid input (VALIDATION_ERROR, details lists fields)'),
  413: errorResponse('Body over the size limit (PAYLOAD_TOO_LARGE)'),
  429: errorResponse('Rate limit exceeded (RATE_LIMIT_EXCEEDED)'),
  500: errorResponse('Internal error (INTERNAL)'),
};
export const authErrors = {
  401: errorResponse('Missing, unknown or revoked credentials (UNAUTHORIZED)'),
  403: errorResponse('Credentials valid but not allowed to act here (FORBIDDEN)'),
};
export { errorResponse };

export function jsonContent<T extends z.ZodType>(schema: T, description = 'OK') {
  return { description, content: { 'application/json': { schema } } };
}

let cached: unknown;

export function openApiDocument(version: string): unknown {
  cached ??= new OpenApiGeneratorV31(openapi.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'AINP broker',
      version,
      description:
        'Off-chain mirror of the ERC-8004 registries and the AINP proof-of-usefulness flow. ' +
        'Errors are {error, message, details?, request_id}.',
    },
    servers: [{ url: '/' }],
  });
  return cached;
}

type Method = 'get' | 'post' | 'patch' | 'delete';
interface Operation {
  summary: string;
  tags: string[];
  security?: 'apiKey' | 'admin' | 'did';
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  responses: Record<number, ReturnType<typeof jsonContent> | { description: string }>;
}

openapi.registerComponent('securitySchemes', 'apiKey', {
  type: 'http',
  scheme: 'bearer',
  description: 'API key',
});
openapi.registerComponent('securitySchemes', 'did', {
  type: 'apiKey',
  in: 'header',
  name: 'X-AINP-Signature',
  description:
    'did:key request signature: X-AINP-DID, X-AINP-Timestamp (Unix ms) and X-AINP-Signature (base64url) over ' +
    'METHOD \\n PATH_WITH_QUERY \\n TIMESTAMP \\n sha256-hex(body)',
});
openapi.registerComponent('securitySchemes', 'admin', {
  type: 'http',
  scheme: 'bearer',
  description: 'ADMIN_TOKEN',
});

/** Documents an Express route (`:param` syntax) with the schemas its handler validates with. */
export function documentRoute(method: Method, expressPath: string, op: Operation): void {
  openapi.registerPath({
    method,
    path: expressPath.replace(/:([a-z_]+)/g, '{$1}'),
    summary: op.summary,
    tags: op.tags,
    ...(op.security ? { security: [{ [op.security]: [] }] } : {}),
    request: {
      ...(op.params ? { params: op.params } : {}),
      ...(op.query ? { query: op.query } : {}),
      ...(op.body ? { body: { required: true, content: { 'application/json': { schema: op.body } } } } : {}),
    },
    responses: {
      ...commonErrors,
      ...(op.security ? authErrors : {}),
      ...op.responses,
    },
  });
}
