import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../app/config/env.js';

describe('.env.example', () => {
  it('documents every variable of the environment schema, and nothing else', () => {
    const documented = readFileSync('.env.example', 'utf8')
      .split('\n')
      .map((l) => /^([A-Z][A-Z0-9_]*)=/.exec(l)?.[1])
      .filter(Boolean)
      .sort();
    expect(documented).toEqual(Object.keys(envSchema.shape).sort());
  });
});
