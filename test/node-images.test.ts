import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../infra/cluster/control-plane.js';
import { parseImageLines } from '../infra/cluster/node.js';
import { LANE_IMAGES } from '../infra/cluster/node-plan.js';

/**
 * The lane's images (scripts/node-images.sh, scripts/images/): what the node takes from the
 * driver's lines, and the broker's cache key, which must change with every file its Dockerfile
 * copies (or a warm run would import a stale broker) and with nothing else.
 */
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const lines = LANE_IMAGES.map(
  (n, i) => `${n} localhost/ainp/${n}:abc${i} /cache/images/${n}-abc${i}.oci.tar ${digest(String(i % 10))}`,
);

describe('node-images.sh lines', () => {
  it('give each lane image its reference, its archive and its reference by digest', () => {
    const images = parseImageLines(lines);
    expect(images.valkey).toBe('localhost/ainp/valkey:abc2');
    expect(images.archives).toEqual(LANE_IMAGES.map((n, i) => `/cache/images/${n}-abc${i}.oci.tar`));
    expect(images.pinned.k6).toBe(`localhost/ainp/k6@${digest('6')}`);
    // A tag with a dot and a dash (the operand image's, which CloudNativePG parses) is cut whole.
    const pg = parseImageLines(
      lines.map((l) => l.replace(/^postgres \S+/, 'postgres localhost:5000/ainp/postgresql:15.20-abc')),
    );
    expect(pg.pinned.postgres).toBe(`localhost:5000/ainp/postgresql@${digest('4')}`);
  });

  it('refuse a missing image or a line without a digest', () => {
    expect(() => parseImageLines(lines.filter((l) => !l.startsWith('nats ')))).toThrow(/no image nats/);
    expect(() => parseImageLines(lines.map((l) => l.replace(/ sha256:\w+$/, '')))).toThrow(/no image pause/);
  });
});

describe('the broker image’s cache key', () => {
  it('covers the Dockerfile, .dockerignore and every file the Dockerfile copies, and nothing else', () => {
    const inputs = execFileSync('bash', [path.join(ROOT, 'scripts/images/broker.sh'), '--inputs'], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    // The sources of every COPY that does not copy from another stage.
    const copied = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')
      .split('\n')
      .filter((l) => /^COPY\s/.test(l) && !/--from=/.test(l))
      .flatMap((l) => l.replace(/--\S+/g, '').trim().split(/\s+/).slice(1, -1));
    expect(copied).toEqual(
      expect.arrayContaining(['package.json', 'package-lock.json', 'app', 'migrations']),
    );
    const tracked = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '--', ...copied], {
      cwd: ROOT,
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    expect(inputs.toSorted()).toEqual(['Dockerfile', '.dockerignore', ...tracked].toSorted());
    expect(inputs).toContain('app/main.ts');
    expect(inputs.filter((f) => f.startsWith('test/') || f === 'README.md')).toEqual([]);
  });
});
