import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';

/** There is no Docker engine here: the Dockerfile is linted and held to the image policy instead. */
const dockerfile = readFileSync('Dockerfile', 'utf8');
const dockerignore = readFileSync('.dockerignore', 'utf8');

describe('Dockerfile', () => {
  it('has no lint problems (dockerfile-utils)', () => {
    const problems = validate(dockerfile).map((d) => `${d.range.start.line + 1}: ${d.message}`);
    expect(problems).toEqual([]);
  });

  it('is multi-stage from one exactly pinned base, never latest', () => {
    const base = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(base).toMatch(/^node:\d+\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    expect(base!.split('-')[0]).toBe(`node:${process.versions.node}`);
    const froms = dockerfile.match(/^FROM .+$/gm)!;
    expect(froms.length).toBeGreaterThanOrEqual(3);
    expect(froms.every((f) => /^FROM (--platform=\$BUILDPLATFORM )?\$\{NODE_IMAGE\} AS /.test(f))).toBe(true);
    // Only the compile stage runs on the build platform: what the runtime copies in is per target.
    expect(froms.filter((f) => f.includes('--platform'))).toEqual([
      'FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build',
    ]);
  });

  it('ships production dependencies only, runs as a non-root user, and runs every role from one entry point', () => {
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(runtime).toMatch(/^USER 10001:10001$/m);
    expect(runtime).not.toMatch(/npm ci(?! --omit=dev)/);
    expect(runtime).toContain('ENTRYPOINT ["node", "--enable-source-maps", "dist/app/main.js"]');
    expect(runtime).toContain('COPY --chown=root:root migrations ./migrations');
  });

  it('the production install (npm ci --omit=dev, as the image runs it) holds no Pulumi SDK or provider', async () => {
    // npm's own answer for this lockfile: every package the image's install would hold.
    const { stdout } = await promisify(execFile)('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const names = stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((p) => p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(names).toContain('express');
    expect(names).toContain('pg');
    expect(names.filter((n) => n.startsWith('@pulumi/') || n.startsWith('@grpc/'))).toEqual([]);
    // The program imports it (infra/components/broker.ts): a devDependency, where `up` runs.
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as Record<string, Record<string, string>>;
    expect(Object.keys(pkg.dependencies!).filter((n) => n.startsWith('@pulumi/'))).toEqual([]);
    expect(pkg.devDependencies!['@pulumi/docker-build']).toBeDefined();
  });

  it('holds no secret and copies nothing but sources, lockfile and migrations', () => {
    expect(dockerfile).not.toMatch(/(PASSWORD|TOKEN|SECRET|DATABASE_URL)\s*=/i);
    expect(dockerignore.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([
      '*',
      '!package.json',
      '!package-lock.json',
      '!tsconfig.json',
      '!tsconfig.build.json',
      '!app/',
      '!migrations/',
    ]);
  });
});
