/**
 * What a request carries besides its path that a route's handler may read as a path parameter. Mastra's adapters
 * hand a handler `{ ...pathParams, ...query, ...body }`, each over the one before, so
 * `POST /agents/public/generate?agentId=finance` (or `{ "agentId": "finance" }` in the body) runs `finance`. And
 * Mastra's query normalizer writes `name[child]` keys into a plain object: `__proto__[x]=` reaches `Object.prototype`.
 * Framework-neutral: the adapters hand in the raw query and the body as far as they know it.
 */
import { BUILT_IN_NAMES, type RouteResource } from './routes.js';

export interface RequestValues {
  /** The raw query string, without `?` ('' for none). */
  query: string;
  /**
   * The parsed body when the adapter has it; `UNREAD_BODY` when a body is coming that no parser has read yet (the
   * route's handler will read it later, unseen); undefined when the adapter cannot know (then only the query counts).
   */
  body?: unknown;
}

/** A body that will be read after the policy ran: nobody can tell what it names. */
export const UNREAD_BODY: unique symbol = Symbol('unread body');

/** Percent-decoding as lenient as Node's `querystring` and `qs`: what does not decode stays as it is. */
function decodeLeniently(part: string): string {
  const spaced = part.replace(/\+/g, ' ');
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}

function decodesStrictly(part: string): boolean {
  try {
    decodeURIComponent(part.replace(/\+/g, ' '));
    return true;
  } catch {
    return false;
  }
}

/** The names one query key sets: its top-level name and every bracketed part (`a[b][c]`: a, b, c). */
interface KeyNames {
  /**
   * The top-level name as any parser reads it: the part before the first `[`, or, when that is empty, the first
   * bracketed part (Express 4's `qs` reads `[agentId]=x` as `agentId`).
   */
  top: string;
  parent: string;
  parts: string[];
  bracketed: boolean;
}

const BRACKET_PART = /\[([^[\]]*)\]/g;

function keyNames(rawKey: string): KeyNames {
  const key = decodeLeniently(rawKey);
  const open = key.indexOf('[');
  if (open === -1) return { top: key, parent: key, parts: [key], bracketed: false };
  const parent = key.slice(0, open);
  const inner = [...key.slice(open).matchAll(BRACKET_PART)].map((m) => m[1]!);
  return { top: parent !== '' ? parent : (inner[0] ?? ''), parent, parts: [parent, ...inner], bracketed: true };
}

function pairs(query: string): Array<{ rawKey: string; rawValue: string | undefined }> {
  if (query === '') return [];
  return query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    return eq === -1 ? { rawKey: pair, rawValue: undefined } : { rawKey: pair.slice(0, eq), rawValue: pair.slice(eq + 1) };
  });
}

/**
 * True when a query key names a built-in of every object (`__proto__[x]=`, `constructor[prototype][x]=`,
 * `[__proto__][x]=`): Mastra's query normalizer would write through it into shared prototypes, for every later request.
 * Also true for a bracketed key that does not decode as UTF-8, which the parsers read differently from each other.
 */
export function pollutesPrototypes(query: string): boolean {
  // Only bracketed keys reach the normalizer's nested write: skip the parse for queries without a bracket.
  if (!query.includes('[') && !/%5[bd]/i.test(query)) return false;
  for (const { rawKey } of pairs(query)) {
    // A bracketed key that does not decode as UTF-8: Node's querystring decodes it byte by byte and qs turns %5B/%5D
    // into brackets first, so either may read names in it that a lenient decoding here does not (`agentId%5B%5D%FF`).
    if (/[[\]]|%5[bd]/i.test(rawKey) && !decodesStrictly(rawKey)) return true;
    const names = keyNames(rawKey);
    if (names.bracketed && names.parts.some((part) => BUILT_IN_NAMES.has(part))) return true;
  }
  return false;
}

/**
 * The name of a path parameter of `resource` that the query or body sets to something else, or may (a bracketed or
 * repeated key, a body not read yet), or undefined. A plain key with the path's own value is no override.
 */
export function overriddenParam(resource: RouteResource, values: RequestValues): string | undefined {
  const { params } = resource;
  const names = Object.keys(params);
  if (names.length === 0) return undefined;
  const seen = new Set<string>();
  for (const { rawKey, rawValue } of pairs(values.query)) {
    const key = keyNames(rawKey);
    const name = [key.top, key.parent].find((candidate) => Object.hasOwn(params, candidate));
    if (name === undefined) continue;
    const value = rawValue === undefined ? '' : decodeLeniently(rawValue);
    if (key.bracketed || seen.has(name) || value !== params[name]) return name;
    seen.add(name);
  }
  const { body } = values;
  if (body === UNREAD_BODY) return names[0];
  if (typeof body === 'object' && body !== null) {
    for (const name of names) {
      if (Object.hasOwn(body, name) && (body as Record<string, unknown>)[name] !== params[name]) return name;
    }
  }
  return undefined;
}
