import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_SEARCH_TERMS, normalizeSearchText } from '../app/domain/search-text.js';
import type { RunningBroker } from '../app/server.js';
import { agentBody, newClient, type Client } from './helpers/api.js';
import { newSigner, signed } from './helpers/ainp.js';
import { dbErrors } from './helpers/metrics.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let broker: RunningBroker;
let client: Client;
beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker({ RATE_LIMIT_REGISTER: '100' });
  client = await newClient(broker.url);
});

const dashes = (n: number) => '-'.repeat(n);
const search = (q: string) => client.get(`/api/v1/agents?q=${encodeURIComponent(q)}`);
const discover = (q: string) =>
  signed(broker.url, newSigner(), 'GET', `/api/discovery?q=${encodeURIComponent(q)}`);

describe('text search input (SPEC section 10, v3: bounded before the text-search parser)', () => {
  it('answers 400 naming the problem, not 500, for runs of dashes, and counts no database error', async () => {
    const errorsBefore = await dbErrors(broker);
    for (const q of [dashes(33), `${dashes(40)}x`.replace(/-/g, '- ')]) {
      // Nothing searchable is left of 33 dashes; 40 spaced dashes before a word leave the word.
      const r = await search(q);
      const d = await discover(q);
      if (normalizeSearchText(q).query) {
        expect(r.status).toBe(200);
        expect(d.status).toBe(200);
      } else {
        expect(r.status).toBe(400);
        expect(r.body.details).toEqual([
          { field: 'q', message: 'must contain a word to search for (letters or digits)' },
        ]);
        expect(d.status).toBe(400);
      }
    }
    const many = Array.from({ length: MAX_SEARCH_TERMS + 1 }, (_, i) => `w${i}`).join(' ');
    const tooMany = await search(many);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.details[0].message).toBe(
      `must have at most ${MAX_SEARCH_TERMS} terms (has ${MAX_SEARCH_TERMS + 1})`,
    );
    expect((await discover(many)).status).toBe(400);
    expect(await dbErrors(broker)).toBe(errorsBefore);
  });

  it('keeps what the query meant: words, phrases, negations and or', async () => {
    expect(normalizeSearchText('  legal   contracts ').query).toBe('legal contracts');
    expect(normalizeSearchText('"state-of-the-art translation" -legal or finance').query).toBe(
      '"state-of-the-art translation" -legal or finance',
    );
    expect(normalizeSearchText('---legal ---- ----contracts').query).toBe('-legal -contracts');
    expect(normalizeSearchText('or or legal or or -or finance or').query).toBe('legal or finance');
    expect(normalizeSearchText(`a${dashes(40)}b`).query).toBe('a b');
    expect(normalizeSearchText('"unclosed phrase -x').query).toBe('"unclosed phrase x"');
    await client.post('/api/v1/agents/register', agentBody({ name: 'Contract lawyer', tags: ['legal'] }));
    await client.post('/api/v1/agents/register', agentBody({ name: 'Finance analyst', tags: ['finance'] }));
    const found = await search('lawyer -analyst');
    expect(found.body.agents.map((a: { name: string }) => a.name)).toEqual(['Contract lawyer']);
  });

  it('never hands PostgreSQL a query it refuses (property, against the real parser)', async () => {
    const nasty = fc.constantFrom(...'ab -"!&|()<>:*\'\\ or\t.,@#'.split(''), ' or ', ' -', '- ', '"-');
    await fc.assert(
      fc.asyncProperty(fc.array(nasty, { maxLength: 200 }), async (parts) => {
        const raw = parts.join('').slice(0, 200);
        const { query, terms } = normalizeSearchText(raw);
        if (terms > MAX_SEARCH_TERMS || !query) return;
        await stack.db.query(`SELECT websearch_to_tsquery('english', $1)`, [query]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('service endpoints (SPEC section 10: nothing a browser would run)', () => {
  it('refuses schemes a browser URL parser would read as javascript:, and control characters', async () => {
    for (const endpoint of [
      'java\nscript:alert(1)',
      '\u0001javascript:alert(1)',
      'jav\tascript:alert(1)',
      ' javascript:alert(1)',
      'JavaScript:alert(1)',
      'data:text/html,<script>1</script>',
    ]) {
      const res = await client.post(
        '/api/v1/agents/register',
        agentBody({ services: [{ name: 'web', endpoint }] }),
      );
      expect(res.status, JSON.stringify(endpoint)).toBe(400);
      expect(res.body.error).toBe('VALIDATION_ERROR');
    }
    const ok = await client.post(
      '/api/v1/agents/register',
      agentBody({
        services: [
          { name: 'ENS', endpoint: 'agent.eth' },
          { name: 'web', endpoint: 'https://a.example/x' },
        ],
      }),
    );
    expect(ok.status).toBe(201);
  });
});
