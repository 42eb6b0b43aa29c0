import '../schemas/openapi-zod.js';
import { OpenApiGeneratorV31, OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

export const ErrorBody = z
  .object({
    error: z.string().openapi({ example: 'VALIDATION_ERROR' }),
    message: z.string(),
    details: z.unknown().optional(),
    request_id: z.string(),
  })
  .openapi('Error');

export const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorBody } },
});

/** The error responses every route that reads input can give, merged into each path's responses. */
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

export function jsonContent<T extends z.ZodType>(schema: T, description = 'OK') {
  return { description, content: { 'application/json': { schema } } };
}

/**
 * One OpenAPI registry per Express app: `defineRoute` documents each route in the registry of the
 * app it registers the route on, so `/openapi.json` lists exactly the routes that app serves (tests
 * build several apps in one process).
 */
export function createOpenApiRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.register('Error', ErrorBody);
  registry.registerComponent('securitySchemes', 'apiKey', {
    type: 'http',
    scheme: 'bearer',
    description: 'API key',
  });
  registry.registerComponent('securitySchemes', 'did', {
    type: 'apiKey',
    in: 'header',
    name: 'X-AINP-Signature',
    description:
      'did:key request signature: X-AINP-DID, X-AINP-Timestamp (Unix ms) and X-AINP-Signature (base64url) over ' +
      'METHOD \\n PATH_WITH_QUERY \\n TIMESTAMP \\n sha256-hex(body)',
  });
  registry.registerComponent('securitySchemes', 'admin', {
    type: 'http',
    scheme: 'bearer',
    description: 'ADMIN_TOKEN',
  });
  return registry;
}

export function openApiDocument(registry: OpenAPIRegistry, version: string): unknown {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
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
}

/** A JSON object response documented without its fields (they follow the service's record). */
export const looseJson = (description: string) => jsonContent(z.object({}).loose(), description);
