import { describe, expect, it } from 'vitest';
import { EnvError, parseEnv } from '../app/config/env.js';
import { runMain } from './helpers/process.js';

describe('environment schema', () => {
  it('applies the documented defaults', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      PORT: 8080,
      DATA_DIR: '.data',
      BODY_LIMIT: '100kb',
      POU_FINALIZER_CRON: '*/1 * * * *',
      USEFULNESS_AGGREGATOR_CRON: '0 * * * *',
      CREDITS_CRON: '5 * * * *',
      CREDITS_ENABLED: false,
    });
  });

  it('parses TRUST_PROXY to what Express takes: a boolean, a hop count or a list', () => {
    // No proxy is believed unless one is named: locally, X-Forwarded-For from loopback would rotate buckets.
    expect(parseEnv({}).TRUST_PROXY).toBe(false);
    expect(parseEnv({ TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(parseEnv({ TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(false);
    expect(parseEnv({ TRUST_PROXY: '1' }).TRUST_PROXY).toBe(1);
    expect(parseEnv({ TRUST_PROXY: '10.0.0.0/8, loopback, fd00::/8' }).TRUST_PROXY).toEqual([
      '10.0.0.0/8',
      'loopback',
      'fd00::/8',
    ]);
    for (const bad of ['banana', '10.0.0.0/33', '1.2.3.4/8/1', 'loopback,'])
      expect(() => parseEnv({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
  });

  it('names every bad variable', () => {
    let error: unknown;
    try {
      parseEnv({
        PORT: 'eighty',
        REDIS_URL: 'http://nope',
        POU_FINALIZER_CRON: '* * *',
        CORS_ORIGIN_REGEX: '([',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnvError);
    const issues = (error as EnvError).issues.join('\n');
    expect(issues).toMatch(/^PORT: /m);
    expect(issues).toMatch(/^REDIS_URL: must start with redis:\/\/ or rediss:\/\//m);
    expect(issues).toMatch(/^POU_FINALIZER_CRON: /m);
    expect(issues).toMatch(/^CORS_ORIGIN_REGEX: must be a valid regular expression/m);
  });

  it('accepts a six-field cron with seconds first', () => {
    expect(parseEnv({ CREDITS_CRON: '30 5 * * * *' }).CREDITS_CRON).toBe('30 5 * * * *');
  });

  it('stops the process with a message naming the variable', async () => {
    const run = runMain(['serve'], { PORT: 'not-a-port', DATABASE_URL: 'postgres://x@127.0.0.1:1/x' });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/Invalid environment:\n\s+- PORT: /);
  });

  it('refuses to serve in production without an admin token', async () => {
    const run = runMain(['serve'], { NODE_ENV: 'production', DATABASE_URL: 'postgres://x@127.0.0.1:1/x' });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('ADMIN_TOKEN: required in production');
  });
});
