import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/**
 * The layer order of app/ is the lint rule import-x/no-restricted-paths (eslint.config.js). These
 * cases lint one import placed in a layer's folder, so a rule that stopped resolving or matching
 * (and silently passed everything) fails here.
 */
const eslint = new ESLint();

async function layerErrors(file: string, specifier: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import * as m from '${specifier}';\nexport default m;\n`, {
    filePath: file,
  });
  return result!.messages.filter((m) => m.ruleId === 'import-x/no-restricted-paths').map((m) => m.message);
}

describe('the layer order lint rule', () => {
  it.each([
    ['app/data/new-repository.ts', '../http/app.js'],
    ['app/data/new-repository.ts', '../schemas/../http/openapi.js'],
    ['app/services/new-service.ts', '../ws/hub.js'],
    ['app/services/new-service.ts', '../jobs/catalogue.js'],
    ['app/domain/new-rule.ts', '../http/errors.js'],
    ['app/domain/new-rule.ts', '../data/db.js'],
    ['app/domain/new-rule.ts', '../services/agents-service.js'],
    ['app/data/new-repository.ts', '../services/agents-service.js'],
    ['app/schemas/new-schema.ts', '../services/agents-service.js'],
  ])('fails %s importing %s', async (file, specifier) => {
    expect(await layerErrors(file, specifier)).toHaveLength(1);
  });

  it.each([
    ['app/data/new-repository.ts', '../schemas/registry.js'],
    ['app/services/new-service.ts', '../data/db.js'],
    ['app/services/new-service.ts', '../domain/quorum.js'],
    ['app/http/routes/new-routes.ts', '../../services/agents-service.js'],
    ['app/jobs/new-job.ts', '../services/finalization-service.js'],
    ['app/domain/new-rule.ts', './quorum.js'],
  ])('lets %s import %s', async (file, specifier) => {
    expect(await layerErrors(file, specifier)).toEqual([]);
  });
});
