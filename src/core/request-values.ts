/**
 * What a request carries besides its path that a route's handler may read as a path parameter. Mastra's adapters
 * hand a handler `{ ...pathParams, ...query, ...body }`, each over the one before, so
 * `POST /agents/public/generate?agentId=finance` (or `{ "agentId": "finance" }` in the body) runs `finance`. And
 * Mastra's query normalizer writes `name[child]` keys into a plain object: `__proto__[x]=` reaches `Object.prototype`.
 * Framework-neutral: the adapters hand in the raw query and the body as far as they know it.
 */
import { unescape } from 'node:querystring';
import { BUILT_IN_NAMES, decodeEscapes, type RouteResource } from './routes.js';

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

/**
 * A body that came with a request whose adapter never sees it (Mastra's provider on `@mastra/express`: the Web request
 * it gets has none, its headers say whether one came; a multipart one anywhere). Checks that need it refuse; the
 * others pass it by as they would no body.
 */
export const UNSEEN_BODY: unique symbol = Symbol('unseen body');

/** Percent-decoding as lenient as Node's `querystring` and `qs`: what does not decode stays as it is. */
function decodeLeniently(part: string): string {
  const spaced = part.replace(/\+/g, ' ');
  return spaced.includes('%') ? decodeEscapes(spaced) : spaced;
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

/** Key parts a nested write goes through into a shared prototype: the built-ins, and `prototype` (`constructor[prototype]`). */
const POLLUTING_PARTS: ReadonlySet<string> = new Set([...BUILT_IN_NAMES, 'prototype']);

function keyNames(rawKey: string): KeyNames {
  return namesOf(decodeLeniently(rawKey));
}

/** The names of a decoded query key (`keyNames`). */
function namesOf(key: string): KeyNames {
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

/** The first key of `context`, when it is a plain object, that `owned` says is the server's. */
export function ownedKeyOf(context: unknown, owned: (key: string) => boolean): string | undefined {
  return isPlainRecord(context) ? Object.keys(context).find(owned) : undefined;
}

/**
 * Where Mastra reads a request context in a JSON body: its adapters the top-level one (every route, custom ones too);
 * its agent signal and message routes (`/signals`, `/send-message`, `/queue-message`) `ifIdle.streamOptions`'s, and its
 * tool-approval routes `streamOptions`'s (`normalizePublicExecutionOptions` of `@mastra/server`). Not a walk of the
 * whole body: stored records carry request contexts Mastra never runs with (a score's, saved again).
 */
const BODY_CONTEXTS: readonly (readonly string[])[] = [
  ['requestContext'],
  ['streamOptions', 'requestContext'],
  ['ifIdle', 'streamOptions', 'requestContext'],
];

/**
 * The first key `owned` says is the server's that a request context the client sends sets: a JSON body's (`BODY_CONTEXTS`),
 * and the query's, as Mastra's adapters read it (JSON, else base64 of JSON; each one, as Hono reads the first of a
 * repeated key and Express none), under each decoding a parser may apply (Node's `querystring`, `qs`'s all-or-nothing,
 * valid escapes alone: base64 skips what is not in its alphabet, so one decoding's garbage is another's JSON), and
 * the value of a bracketed key (`qs` reads `[requestContext]=` as `requestContext`) and its parts' names
 * (`requestContext[user]=`); false when none. UNREAD_BODY when a body is coming that no parser has read yet (it may
 * set one); a body the adapter never sees (UNSEEN_BODY) is not judged.
 */
export function setsContextKey(values: RequestValues, owned: (key: string) => boolean): string | false | typeof UNREAD_BODY {
  const { query, body } = values;
  for (const path of BODY_CONTEXTS) {
    let context: unknown = body;
    for (const name of path) context = isPlainRecord(context) ? context[name] : undefined;
    const found = ownedKeyOf(context, owned);
    if (found !== undefined) return found;
  }
  if (CONTEXT_QUERY.test(query) || (query.includes('%') && CONTEXT_QUERY.test(decodeEscapes(query)))) {
    for (const { rawKey, rawValue } of pairs(query)) {
      const key = keyNames(rawKey);
      if (key.top !== CONTEXT && key.parent !== CONTEXT) continue;
      const part = key.bracketed ? key.parts.find(owned) : undefined;
      if (part !== undefined) return part;
      if (rawValue === undefined) continue;
      for (const text of new Set([decodeLeniently(rawValue), decodedAsQuerystring(rawValue), decodedAsQs(rawValue)])) {
        const named = ownedKeyOf(contextOf(text), owned);
        if (named !== undefined) return named;
      }
    }
  }
  return body === UNREAD_BODY ? UNREAD_BODY : false;
}

/**
 * Whether `parsed`, the query as the framework's parser read it (Express's `req.query`: the app's `query parser`,
 * and whatever a middleware before changed in it), reads as the raw `query` does: each top-level key a name the raw
 * query gives (a whole key, or its name before a bracket), each string in its value (an array's items too) one of
 * that name's values in the raw query, decoded as Node's `querystring` or `qs` decode it. Mastra's Express adapter
 * reads that object while every check here reads the raw query: a parser that reads `.toolId=x` as `toolId` (`qs`'s
 * `allowDots`), or splits at `;`, would hand Mastra an id no check saw. What is nested deeper is not compared (Mastra
 * reads top-level strings and arrays; a bracketed id is refused by the checks of the raw query).
 */
export function readsAsQuery(query: string, parsed: unknown): boolean {
  if (parsed === undefined || parsed === null) return true;
  if (typeof parsed !== 'object') return false;
  const keys = Object.keys(parsed);
  if (keys.length === 0) return true;
  const given = new Map<string, Set<string>>();
  for (const { rawKey, rawValue } of pairs(query)) {
    const value = rawValue ?? '';
    const read = [decodedAsQuerystring(value), decodedAsQs(value)];
    for (const key of new Set([decodedAsQuerystring(rawKey), decodedAsQs(rawKey)])) {
      const { top, parent } = namesOf(key);
      for (const name of [key, top, parent]) {
        let values = given.get(name);
        if (values === undefined) given.set(name, (values = new Set()));
        for (const one of read) values.add(one);
      }
    }
  }
  return keys.every((key) => {
    const values = given.get(key);
    const value = (parsed as Record<string, unknown>)[key];
    return values !== undefined && (Array.isArray(value) ? value.every((item) => fits(item, values)) : fits(value, values));
  });
}

/** A parsed value against a name's raw values: a string or number one of them; an object (nested) or nothing passes. */
function fits(value: unknown, values: ReadonlySet<string>): boolean {
  if (typeof value === 'string') return values.has(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return values.has(String(value));
  return value === undefined || value === null || typeof value === 'object';
}

/** Node's `querystring` decoding (Express's `simple` parser): `+` as a space, escapes as UTF-8 bytes, malformed ones kept. */
function decodedAsQuerystring(part: string): string {
  return unescape(part.replace(/\+/g, ' '));
}

/** `qs`'s decoding (Express's `extended` parser): `+` as a space, then all escapes at once, or none when one does not decode. */
function decodedAsQs(part: string): string {
  const spaced = part.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

const CONTEXT = 'requestContext';
const CONTEXT_QUERY = /requestContext/;

const isPlainRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A query's request context as Mastra's adapters parse it: JSON, else base64 of JSON, else none. */
function contextOf(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    try {
      return JSON.parse(Buffer.from(text, 'base64').toString('utf-8')) as unknown;
    } catch {
      return undefined;
    }
  }
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
    if (names.bracketed && names.parts.some((part) => POLLUTING_PARTS.has(part))) return true;
  }
  return false;
}

/**
 * A key naming something Mastra looks up in a registry of plain objects (`agentId`, `agent_id`, `workflowId`,
 * `toolId`, `entityId`...), in a query or a JSON body. Storage ids (`threadId`, `resourceId`, `runId`) are looked up in
 * the database, where a built-in name is just a name.
 */
const ID_KEY = /^(?:agent|workflow|tool|scorer|processor|entity|target)(?:Id|_id)$/;

/** A query that may name a built-in: one of the names, or percent-encoding that could spell one. */
const MAY_NAME_BUILT_IN = new RegExp(`%|${[...BUILT_IN_NAMES].join('|')}`);

/**
 * True when the query or the (parsed) body sets an id to a name every plain object has (`constructor`, `__proto__`,
 * `toString`...): Mastra looks ids up in plain objects, finds the built-in and answers a 500. An id is a registry key
 * (`agentId=`, `{ "agent_id": ... }`) or a path parameter of one of the route's `readings`, which Mastra's adapter lets
 * a query or body key replace (`/vector/p1/indexes?vectorName=constructor`). The path's own values are checked by the
 * route table.
 */
export function namesBuiltIn(values: RequestValues, readings: readonly RouteResource[]): boolean {
  const isId = (key: string) => ID_KEY.test(key) || readings.some((reading) => Object.hasOwn(reading.params, key));
  const { query, body } = values;
  if (query !== '' && MAY_NAME_BUILT_IN.test(query)) {
    for (const { rawKey, rawValue } of pairs(query)) {
      if (rawValue === undefined || !isId(keyNames(rawKey).top)) continue;
      if (BUILT_IN_NAMES.has(decodeLeniently(rawValue))) return true;
    }
  }
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    for (const key of Object.keys(body)) {
      const value = (body as Record<string, unknown>)[key];
      if (typeof value === 'string' && BUILT_IN_NAMES.has(value) && isId(key)) return true;
    }
  }
  return false;
}

/**
 * True when the path or query has a percent-encoded NUL character, or a string or key of the (parsed) JSON body has
 * one: PostgreSQL refuses it in a text value and Node's `fs` in a path, and Mastra answers 500 with their message
 * (the server's directory included). The whole body is read, however large (the parser already read it all): a
 * budget would let a NUL behind enough padding through. Only plain objects and arrays are walked (another
 * middleware's body, a Buffer, is not JSON), each once (one set by a middleware may hold itself).
 */
export function carriesNul(rawPath: string, values: RequestValues): boolean {
  if (rawPath.includes('%00') || values.query.includes('%00')) return true;
  const { body } = values;
  if (typeof body === 'string') return body.includes('\0');
  if (!isJsonContainer(body)) return false;
  const pending: object[] = [body];
  const seen = new Set<object>(pending);
  const holdsNul = (value: unknown): boolean => {
    if (typeof value === 'string') return value.includes('\0');
    if (isJsonContainer(value) && !seen.has(value)) {
      seen.add(value);
      pending.push(value);
    }
    return false;
  };
  while (pending.length > 0) {
    const container = pending.pop()!;
    if (Array.isArray(container)) {
      // By index: an array of 100,000 numbers (a vector upsert) makes no 100,000 key strings.
      for (let i = 0; i < container.length; i++) if (holdsNul(container[i])) return true;
    } else {
      for (const key of Object.keys(container)) {
        if (key.includes('\0') || holdsNul((container as Record<string, unknown>)[key])) return true;
      }
    }
  }
  return false;
}

function isJsonContainer(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * `resource` with the ids its route reads from the query (`queryParams`) in `params`, as the handler will read them:
 * a plain key set once, to a value that decodes as UTF-8. A key in any other form (bracketed, repeated, undecodable)
 * is left out, and `overriddenParam` refuses it. The same object for a route without query ids.
 */
export function withQueryParams(resource: RouteResource, query: string): RouteResource {
  const wanted = resource.queryParams;
  if (wanted.length === 0 || query === '') return resource;
  const found: Record<string, string> = {};
  const counts = new Map<string, number>();
  for (const { rawKey, rawValue } of pairs(query)) {
    const key = keyNames(rawKey);
    if (!wanted.includes(key.top) && !wanted.includes(key.parent)) continue;
    const name = wanted.includes(key.top) ? key.top : key.parent;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if (!key.bracketed && rawValue !== undefined && decodesStrictly(rawValue)) found[name] = decodeLeniently(rawValue);
  }
  const params: Record<string, string> = { ...resource.params };
  let added = false;
  for (const name of wanted) {
    if (counts.get(name) === 1 && Object.hasOwn(found, name)) {
      params[name] = found[name]!;
      added = true;
    }
  }
  return added ? Object.freeze({ ...resource, params: Object.freeze(params) }) : resource;
}

/**
 * The name of a parameter of `resource` (in its path, or read from its query) that the query or body sets to
 * something else than `params` says, or may (a bracketed or repeated key, a body not read yet), or undefined. A
 * plain key with the same value is no override. Call it with the resource `withQueryParams` returned.
 */
export function overriddenParam(resource: RouteResource, values: RequestValues): string | undefined {
  const { params, queryParams, bodyParams } = resource;
  const pathNames = queryParams.length === 0 ? Object.keys(params) : Object.keys(params).filter((name) => !queryParams.includes(name));
  const names = queryParams.length === 0 ? pathNames : [...pathNames, ...queryParams];
  if (names.length === 0) return undefined;
  const seen = new Set<string>();
  for (const { rawKey, rawValue } of pairs(values.query)) {
    const key = keyNames(rawKey);
    const name = [key.top, key.parent].find((candidate) => names.includes(candidate));
    if (name === undefined) continue;
    const value = rawValue === undefined ? '' : decodeLeniently(rawValue);
    if (key.bracketed || seen.has(name) || !Object.hasOwn(params, name) || value !== params[name]) return name;
    seen.add(name);
  }
  // The body: the path's ids (unless its schema drops them), and the query's where the route takes them from a body
  // too (it has no body schema).
  const bodyPathNames = resource.bodySetsPathParams ? pathNames : [];
  const bodyNames = bodyParams.length === 0 ? bodyPathNames : [...bodyPathNames, ...bodyParams];
  if (bodyNames.length === 0) return undefined;
  const { body } = values;
  if (body === UNREAD_BODY) return bodyNames[0];
  if (typeof body === 'object' && body !== null) {
    for (const name of bodyNames) {
      if (Object.hasOwn(body, name) && (body as Record<string, unknown>)[name] !== params[name]) return name;
    }
  }
  return undefined;
}

/**
 * The run id a workflow-run route (`resource.run`) acts on: what the path's `:runId`, the query's `runId` and,
 * where Mastra takes it from the body too, a JSON body's `runId` name, which must all be the same (Mastra's adapter
 * hands the handler `{ ...path, ...query, ...body }`). Undefined when none is named (Mastra answers 400); null when
 * they differ or one is in a form a parser may read otherwise (a bracketed key, a value that does not decode as
 * UTF-8, one that is no string); UNREAD_BODY when a route that takes its run id from the body too (no body schema)
 * has a body no parser has read yet, or one the adapter never sees (UNSEEN_BODY: the provider alone, which has only
 * the headers saying a body came). `resource` is what `withQueryParams` returned.
 */
export function runIdOf(resource: RouteResource, values: RequestValues): string | null | undefined | typeof UNREAD_BODY {
  let runId: string | undefined = resource.queryParams.includes('runId') ? undefined : resource.params.runId;
  const named = (value: string): boolean => {
    if (runId !== undefined && runId !== value) return false;
    runId = value;
    return true;
  };
  const { query, body } = values;
  if (query !== '' && /runid/i.test(decodeLeniently(query))) {
    for (const { rawKey, rawValue } of pairs(query)) {
      const key = keyNames(rawKey);
      if (!key.parts.includes('runId')) continue;
      // A value that does not decode as UTF-8 reads differently to each parser (qs keeps it, querystring replaces bytes).
      if (key.bracketed || (rawValue !== undefined && !decodesStrictly(rawValue))) return null;
      if (!named(rawValue === undefined ? '' : decodeLeniently(rawValue))) return null;
    }
  }
  // The body counts where Mastra takes the run id from it: a route without a body schema, whose run id is in its query
  // (`bodyParams`) or its path (`bodySetsPathParams`). A body schema drops a `runId` it does not list.
  const fromBody = resource.bodyParams.includes('runId') || (!resource.queryParams.includes('runId') && resource.bodySetsPathParams);
  if (!fromBody) return runId;
  if (body === UNREAD_BODY || body === UNSEEN_BODY) return UNREAD_BODY;
  if (typeof body === 'object' && body !== null && Object.hasOwn(body, 'runId')) {
    const value = (body as { runId?: unknown }).runId;
    if (typeof value !== 'string' || !named(value)) return null;
  }
  return runId;
}

/**
 * Every value the request gives the names of `rule` (a route's `memoryResource`): the path's parameters of those
 * names, the query's keys (any form), a JSON body's keys when the route may take one from its body. Null for a
 * value a parser may read otherwise (a bracketed key, a value that does not decode as UTF-8, a body value that is
 * no string); UNREAD_BODY for a body that may name one and is not parsed yet, or that the adapter never sees
 * (UNSEEN_BODY: the provider alone).
 */
export function namedValues(reading: RouteResource, values: RequestValues, rule: { keys: readonly string[]; inBody: boolean }): string[] | null | typeof UNREAD_BODY {
  const named: string[] = [];
  for (const key of rule.keys) if (Object.hasOwn(reading.params, key)) named.push(reading.params[key]!);
  for (const { rawKey, rawValue } of pairs(values.query)) {
    const key = keyNames(rawKey);
    if (!key.parts.some((part) => rule.keys.includes(part))) continue;
    if (key.bracketed || (rawValue !== undefined && !decodesStrictly(rawValue))) return null;
    named.push(rawValue === undefined ? '' : decodeLeniently(rawValue));
  }
  if (!rule.inBody) return named;
  const { body } = values;
  if (body === UNREAD_BODY || body === UNSEEN_BODY) return UNREAD_BODY;
  if (typeof body === 'object' && body !== null) {
    for (const key of rule.keys) {
      if (!Object.hasOwn(body, key)) continue;
      const value = (body as Record<string, unknown>)[key];
      if (typeof value !== 'string') return null;
      named.push(value);
    }
  }
  return named;
}
