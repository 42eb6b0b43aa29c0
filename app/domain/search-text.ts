/**
 * Text search input, bounded and normalized before it reaches PostgreSQL's
 * `websearch_to_tsquery` (SPEC section 10, v3).
 *
 * Why: the parser keeps its operators on a fixed stack of 32, and every `-` that does not start a
 * word nests one more NOT: 33 dashes (`q=---…`, or `- - - … x`) failed the statement with
 * `tsquery stack too small` (a 500 from anyone, and a database-error alert). The query is rebuilt
 * from a small grammar the parser cannot nest: words (letters, digits and marks, with single
 * inner hyphens or apostrophes), each negated at most once by one leading `-`; quoted phrases of
 * such words; and `or` between two terms. Everything else is a separator, as the parser treats it.
 */

/** At most this many terms (words, in phrases or not) in one query. */
export const MAX_SEARCH_TERMS = 32;

const WORD = /[\p{L}\p{N}\p{M}]+(?:['-][\p{L}\p{N}\p{M}]+)*/gu;

export type SearchText = { query: string; terms: number };

/** The words of a stretch of text, as the grammar above takes them. */
const wordsOf = (text: string): string[] => text.match(WORD) ?? [];

/**
 * Rebuilds `raw` as a query of the grammar above, keeping what it meant to websearch syntax: its
 * words, phrases, negations and `or`s. `query` is empty when nothing searchable is left.
 */
export function normalizeSearchText(raw: string): SearchText {
  const parts: string[] = [];
  let terms = 0;
  const or = () => {
    // Only between two terms: a leading or repeated `or` is dropped (a trailing one below).
    if (parts.length && parts[parts.length - 1] !== 'or') parts.push('or');
  };
  // Pieces: a quoted phrase (closed or running to the end, as websearch reads it) or a token.
  for (const piece of raw.match(/"[^"]*"?|[^\s"]+/g) ?? []) {
    const words = wordsOf(piece);
    if (!words.length) continue;
    if (piece.startsWith('"')) {
      terms += words.length;
      parts.push(`"${words.join(' ')}"`);
      continue;
    }
    // A token such as `a,b` holds two words, as the parser reads it; a leading `-` negates the first.
    const negated = piece.startsWith('-');
    words.forEach((w, i) => {
      if (/^or$/i.test(w)) {
        if (!(negated && i === 0)) or();
        return;
      }
      terms += 1;
      parts.push(negated && i === 0 ? `-${w}` : w);
    });
  }
  while (parts[parts.length - 1] === 'or') parts.pop();
  return { query: parts.join(' '), terms };
}

/**
 * The positive part of a normalized query (`normalizeSearchText(...).query`): its words, phrases and
 * `or`s without the negated words, or null when nothing positive is left. Discovery ranks by it:
 * `ts_rank` scores an AND query by how close its operands are to each other, and a negated word is
 * absent from every match, so `legal -medical` would score every match alike (nearly zero).
 */
export function positiveSearchText(query: string): string | null {
  const parts: string[] = [];
  for (const token of query.match(/"[^"]*"|\S+/g) ?? []) {
    if (token.startsWith('-')) continue;
    if (token === 'or' && (!parts.length || parts[parts.length - 1] === 'or')) continue;
    parts.push(token);
  }
  while (parts[parts.length - 1] === 'or') parts.pop();
  return parts.length ? parts.join(' ') : null;
}
