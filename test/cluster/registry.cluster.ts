import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../app/local/free-port.js';
import { RegistryError, parseRepository, tagDigest } from '../../infra/ops/registry.js';
import { scratchDir } from '../helpers/tmp.js';

/**
 * promote's immutable tag (issue 34, item 7) against a real registry: Debian's docker-registry
 * (distribution 2.8, scripts/install-deps.sh node) on a loopback port, with htpasswd (bcrypt) auth as
 * a private registry has. An image is pushed through the registry's own API, then tagDigest adds a
 * tag to its digest.
 */
const USER = { username: 'promoter', password: 'lane-only-password' };
let registry: ChildProcess;
let host: string;
let log = '';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const basic = `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}`;

async function pushBlob(name: string, body: Buffer): Promise<string> {
  const digest = sha256(body);
  const start = await fetch(`http://${host}/v2/${name}/blobs/uploads/`, {
    method: 'POST',
    headers: { Authorization: basic },
  });
  expect(start.status).toBe(202);
  const location = new URL(start.headers.get('location')!, `http://${host}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { Authorization: basic, 'Content-Type': 'application/octet-stream' },
    body: new Uint8Array(body),
  });
  expect(put.status).toBe(201);
  return digest;
}

/** Pushes a one-layer OCI image under `tag`; returns its manifest's digest as the registry reports it. */
async function pushImage(name: string, tag: string, content: string): Promise<string> {
  const layer = Buffer.from(content);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: await pushBlob(name, config),
        size: config.length,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: await pushBlob(name, layer),
          size: layer.length,
        },
      ],
    }),
  );
  const res = await fetch(`http://${host}/v2/${name}/manifests/${tag}`, {
    method: 'PUT',
    headers: { Authorization: basic, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: new Uint8Array(manifest),
  });
  expect(res.status).toBe(201);
  expect(res.headers.get('docker-content-digest')).toBe(sha256(manifest));
  return sha256(manifest);
}

const digestOf = async (name: string, tag: string) =>
  (
    await fetch(`http://${host}/v2/${name}/manifests/${tag}`, {
      method: 'HEAD',
      headers: { Authorization: basic, Accept: 'application/vnd.oci.image.manifest.v1+json' },
    })
  ).headers.get('docker-content-digest');

beforeAll(async () => {
  const dir = scratchDir('registry');
  const port = await freePort();
  host = `127.0.0.1:${port}`;
  // bcrypt, as the registry's htpasswd wants (libxcrypt through Python's crypt module).
  const hash = execFileSync('python3', [
    '-W',
    'ignore',
    '-c',
    `import crypt; print(crypt.crypt(${JSON.stringify(USER.password)}, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))`,
  ])
    .toString()
    .trim();
  writeFileSync(path.join(dir, 'htpasswd'), `${USER.username}:${hash}\n`);
  writeFileSync(
    path.join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log: { level: warn }',
      `storage: { filesystem: { rootdirectory: ${path.join(dir, 'data')} } }`,
      `http: { addr: "${host}" }`,
      `auth: { htpasswd: { realm: lane, path: ${path.join(dir, 'htpasswd')} } }`,
    ].join('\n'),
  );
  registry = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  registry.stdout!.on('data', (c: Buffer) => (log += c));
  registry.stderr!.on('data', (c: Buffer) => (log += c));
  for (const end = Date.now() + 20_000; ;) {
    const up = await fetch(`http://${host}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (up === 401) break;
    if (Date.now() > end || registry.exitCode !== null) throw new Error(`registry did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(() => {
  registry?.kill('SIGTERM');
});

describe('promote tags the promoted digest, immutably (issue 34, item 7)', () => {
  it('adds the tag to the digest, byte for byte, and says so again without changing anything', async () => {
    const digest = await pushImage('ainp/broker', 'staging-staging', 'release 1');
    const repository = `${host}/ainp/broker`;
    expect(await tagDigest({ repository, digest, tag: 'prod-0123456789ab', credentials: USER })).toEqual({
      result: 'tagged',
      reference: `${repository}:prod-0123456789ab`,
    });
    expect(await digestOf('ainp/broker', 'prod-0123456789ab')).toBe(digest);
    expect(
      (await tagDigest({ repository, digest, tag: 'prod-0123456789ab', credentials: USER })).result,
    ).toBe('already-tagged');
    // Staging's next build moves staging's tag; the prod tag stays on what was promoted.
    const next = await pushImage('ainp/broker', 'staging-staging', 'release 2');
    expect(await digestOf('ainp/broker', 'staging-staging')).toBe(next);
    expect(await digestOf('ainp/broker', 'prod-0123456789ab')).toBe(digest);
  });

  it('never moves a promotion tag to another digest', async () => {
    const first = await pushImage('ainp/moving', 'a', 'one');
    const second = await pushImage('ainp/moving', 'b', 'two');
    const repository = `${host}/ainp/moving`;
    await tagDigest({ repository, digest: first, tag: 'prod-1', credentials: USER });
    await expect(tagDigest({ repository, digest: second, tag: 'prod-1', credentials: USER })).rejects.toThrow(
      `${repository}:prod-1 already names ${first}, not ${second}; a promotion tag is never moved`,
    );
    expect(await digestOf('ainp/moving', 'prod-1')).toBe(first);
  });

  it('names what is wrong: no credentials, wrong ones, a digest the registry does not hold, bad input', async () => {
    const repository = `${host}/ainp/broker`;
    const digest = await digestOf('ainp/broker', 'prod-0123456789ab');
    await expect(tagDigest({ repository, digest: digest!, tag: 'prod-x' })).rejects.toThrow(
      `http://${host}: ainp/broker needs credentials (the stack's registryUsername and registryPassword)`,
    );
    await expect(
      tagDigest({ repository, digest: digest!, tag: 'prod-x', credentials: { ...USER, password: 'wrong' } }),
    ).rejects.toThrow(/HTTP 401 reading the tag/);
    await expect(
      tagDigest({ repository, digest: `sha256:${'0'.repeat(64)}`, tag: 'prod-x', credentials: USER }),
    ).rejects.toThrow(`${repository}@sha256:${'0'.repeat(64)}: no such manifest in the registry`);
    await expect(tagDigest({ repository, digest: 'latest', tag: 'prod-x' })).rejects.toThrow(RegistryError);
    await expect(tagDigest({ repository, digest: digest!, tag: '-bad' })).rejects.toThrow('not a valid tag');
    await expect(
      tagDigest({ repository: `127.0.0.1:1/ainp/broker`, digest: digest!, tag: 'prod-x' }),
    ).rejects.toThrow('http://127.0.0.1:1: unreachable');
  });

  it('speaks https to every registry but one on loopback, and finds Docker Hub names', () => {
    expect(parseRepository('ghcr.io/ainp/broker')).toEqual({ base: 'https://ghcr.io', name: 'ainp/broker' });
    expect(parseRepository('127.0.0.1:5000/ainp/broker')).toEqual({
      base: 'http://127.0.0.1:5000',
      name: 'ainp/broker',
    });
    expect(parseRepository('localhost:5000/x/y')).toEqual({ base: 'http://localhost:5000', name: 'x/y' });
    expect(parseRepository('grafana/k6')).toEqual({
      base: 'https://registry-1.docker.io',
      name: 'grafana/k6',
    });
    expect(() => parseRepository('https://ghcr.io/x')).toThrow('expected host[:port]/path');
  });
});
