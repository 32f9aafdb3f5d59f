/**
 * A compiled route table that answers "which routes could this request be?" the way Express routes it
 * (path-to-regexp, non-strict, case-insensitive), without knowing where the app mounted them.
 *
 * Framework-neutral on purpose: no Express, no Mastra. It runs on every request, so routes are compiled once
 * into a segment trie and a lookup walks a few map entries per segment instead of testing ~400 regexes.
 */

/** A route to compile: method, Express-style path (`/agents/:agentId`), and the permission it requires. */
/** How a route acts on the workflow run it names (`RouteDefinition.run`). */
export type RunAccess = 'streams' | 'observes' | 'names';

export interface RouteDefinition {
  method: string;
  path: string;
  permission: string | readonly string[] | null;
  /** The route acts on an agent or workflow named in the request body, which no policy sees (default false). */
  addressedInBody?: boolean;
  /**
   * Ids the route's handler reads from the query string rather than the path (Mastra's memory routes take the agent
   * as `?agentId=`): the policy finds them in `params` when the query names them (default none).
   */
  queryParams?: readonly string[];
  /**
   * Of `queryParams`, the ones the handler also takes from a JSON body, where one can override the query's (a route
   * without a body schema hands its body on unchecked; a schema drops keys it does not list). Default none.
   */
  bodyParams?: readonly string[];
  /**
   * False for a route whose body cannot replace the ids of its path: its body schema drops keys it does not list, and
   * lists none of them (Mastra's voice transcription). Default true: Mastra merges the body over the path's ids.
   */
  bodySetsPathParams?: boolean;
  /**
   * The route acts on a workflow run named by `runId` (in its path or query; see `queryParams`): 'streams' when it also
   * writes the run's events to a cache keyed by the run id alone (Mastra's server cache), 'observes' when it replays
   * that cache, 'names' for the others. Default: no run.
   */
  run?: RunAccess;
  /**
   * The route reads or changes the memory resource the request names, with no check of its own that it is the caller's
   * (an AgentController session's `:resourceId`): the names (a path parameter, a query or JSON body key) that name it,
   * each value the signed-in user's own resource (`inBody`: a JSON body may give them; `required`: the request must
   * give at least one); or 'everyone' for a route that serves every user's (refused).
   * Default: none.
   */
  memoryResource?: MemoryResourceRule;
}

/** Where a route takes a memory resource from (`RouteDefinition.memoryResource`), or 'everyone'. */
export type MemoryResourceRule = { readonly keys: readonly string[]; readonly inBody: boolean; readonly required: boolean } | 'everyone';

/** One interpretation of a request path: the route it hits, under which mount prefix, with which params. */
export interface RouteResource {
  /** HTTP method of the route as declared ('GET', 'POST', ..., or 'ALL'). */
  method: string;
  /** The route pattern without prefix, e.g. '/agents/:agentId/generate'. */
  route: string;
  /** The mount prefix the path was matched under, '' or e.g. '/api', '/v1/api'. */
  prefix: string;
  /**
   * Route parameters, decoded exactly as Express decodes them (decodeURIComponent of the raw segment), and the ids of
   * `queryParams` the query names (`GET /memory/threads?agentId=finance` has `{ agentId: 'finance' }`). Frozen.
   */
  params: Readonly<Record<string, string>>;
  /** The names of `params` the route reads from the query string rather than its path (`['agentId']`), or none. */
  queryParams: readonly string[];
  /** Of `queryParams`, the ones a JSON body may set too (then checked against the query's), or none. */
  bodyParams: readonly string[];
  /** Whether a body may replace the ids of the path (see `RouteDefinition.bodySetsPathParams`). */
  bodySetsPathParams: boolean;
  /** The permission the route requires (Mastra's getEffectivePermission), or null. */
  permission: string | readonly string[] | null;
  /**
   * True for a route that acts on an agent or workflow named in the request body (`POST /v1/responses` with
   * `agent_id`, `POST /workflows/events`): `params` cannot name it, so a rule about one agent cannot hold there.
   */
  addressedInBody: boolean;
  /** Whether the route acts on a run named by `params.runId` (see `RouteDefinition.run`), or undefined. */
  run: RunAccess | undefined;
  /** Where the route takes a memory resource it does not check from (see `RouteDefinition.memoryResource`), or undefined. */
  memoryResource: MemoryResourceRule | undefined;
}

/**
 * The names every plain object has (`__proto__`, `constructor`, `toString`...): never an agent, tool or workflow id,
 * since Mastra looks ids up in plain objects and would find these (and answer a 500).
 */
export const BUILT_IN_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/** Paths deeper than this match nothing: bounds the work an attacker can cause per request. */
const MAX_SEGMENTS = 64;

const EMPTY: readonly RouteResource[] = Object.freeze([]);

/** A compiled route; `names` are its parameter names in path order. */
interface Entry {
  readonly index: number;
  /** Upper-cased declared method. */
  readonly method: string;
  readonly route: string;
  readonly names: readonly string[];
  readonly permission: string | readonly string[] | null;
  readonly addressedInBody: boolean;
  readonly queryParams: readonly string[];
  readonly bodyParams: readonly string[];
  readonly bodySetsPathParams: boolean;
  readonly run: RunAccess | undefined;
  readonly memoryResource: MemoryResourceRule | undefined;
}

interface TrieNode {
  /** Literal children keyed by ASCII-lower-cased segment. */
  readonly literal: Map<string, TrieNode>;
  /** The child for a `:param` segment (one per node: params are anonymous in the trie, named per entry). */
  param: TrieNode | undefined;
  /** Routes ending exactly here, in declaration order. */
  readonly entries: Entry[];
}

/** A trie node reached by the whole remaining path, with the raw param segments collected on the way. */
interface Hit {
  readonly node: TrieNode;
  readonly values: readonly string[];
}

const newNode = (): TrieNode => ({ literal: new Map(), param: undefined, entries: [] });

/**
 * Lower-cases ASCII letters only. path-to-regexp's `i` flag (non-unicode) folds by `toUpperCase`, which never folds a
 * non-ASCII character onto an ASCII one, whereas `toLowerCase` maps e.g. the Kelvin sign to `k`. Allocation-free for
 * the common all-lower-case segment.
 */
function asciiLower(s: string): string {
  let upper = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
    if (c >= 65 && c <= 90) upper = true;
  }
  return upper ? s.toLowerCase() : s;
}

/**
 * `text` with each run of percent-escapes decoded (`decodeURIComponent`), a run that does not decode as UTF-8 left as
 * it is: how Hono reads a path before it routes it (`decodeURI`, run by run when the whole fails), as far as a literal
 * segment can tell (a literal has no reserved character, which `decodeURI` keeps encoded).
 */
export function decodeEscapes(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/**
 * The key a raw path segment looks a literal up by: lower case (Express matches case-insensitively), and with its
 * percent-escapes decoded, since Mastra's Hono server routes `/api/%61gents` as `/api/agents` (Express answers 404 there).
 */
function literalKey(segment: string): string {
  return asciiLower(segment.includes('%') ? decodeEscapes(segment) : segment);
}

/** Valid `:name` per path-to-regexp (an identifier). */
const PARAM_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Characters that would make path-to-regexp treat a segment as more than a plain literal; we don't support them. */
const SPECIAL = /[*?+(){}[\]:\\]/;

/** Decodes a param like Express (`decodeURIComponent`), or undefined for malformed percent-encoding (Express: 400). */
function decodeParam(raw: string): string | undefined {
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

export class RouteTable {
  readonly #root: TrieNode = newNode();
  /** `depths[n]` is true when some route has exactly n segments: prefixes that leave any other count are skipped. */
  readonly #depths: boolean[] = [];
  /** The paths of the routes that act on a run or on a memory resource they do not check (`run`, `memoryResource`). */
  readonly servedRoutes: readonly string[];

  constructor(routes: readonly RouteDefinition[]) {
    this.servedRoutes = Object.freeze(routes.filter((def) => def.run !== undefined || def.memoryResource !== undefined).map((def) => def.path));
    routes.forEach((def, index) => {
      if (typeof def.path !== 'string' || !def.path.startsWith('/')) {
        throw new TypeError(`RouteTable: route ${index} path must start with '/': ${String(def.path)}`);
      }
      if (typeof def.method !== 'string' || def.method === '') {
        throw new TypeError(`RouteTable: route ${index} (${def.path}) needs a method`);
      }
      // Non-strict routing: '/agents/' and '/agents' are the same route.
      const body = def.path.length > 1 && def.path.endsWith('/') ? def.path.slice(1, -1) : def.path.slice(1);
      const segments = body === '' ? [] : body.split('/');
      if (segments.length > MAX_SEGMENTS) throw new TypeError(`RouteTable: route ${def.path} is too deep`);
      let node = this.#root;
      const names: string[] = [];
      for (const segment of segments) {
        if (segment.startsWith(':')) {
          const name = segment.slice(1);
          if (!PARAM_NAME.test(name)) throw new TypeError(`RouteTable: unsupported parameter '${segment}' in ${def.path}`);
          names.push(name);
          node = node.param ??= newNode();
        } else {
          // Wildcards, optional or regex parts would need path-to-regexp itself; refuse instead of mis-matching.
          if (segment === '' || SPECIAL.test(segment)) {
            throw new TypeError(`RouteTable: unsupported segment '${segment}' in ${def.path}`);
          }
          const key = asciiLower(segment);
          let child = node.literal.get(key);
          if (!child) node.literal.set(key, (child = newNode()));
          node = child;
        }
      }
      for (const name of def.queryParams ?? []) {
        if (!PARAM_NAME.test(name)) throw new TypeError(`RouteTable: unsupported query parameter '${name}' in ${def.path}`);
      }
      const permission = Array.isArray(def.permission) ? Object.freeze([...def.permission]) : def.permission;
      node.entries.push(
        Object.freeze({
          index,
          method: def.method.toUpperCase(),
          route: def.path,
          names: Object.freeze(names),
          permission,
          addressedInBody: def.addressedInBody === true,
          queryParams: Object.freeze(def.queryParams?.filter((name) => !names.includes(name)) ?? []),
          bodyParams: Object.freeze(def.bodyParams?.filter((name) => def.queryParams?.includes(name) === true && !names.includes(name)) ?? []),
          bodySetsPathParams: def.bodySetsPathParams !== false,
          run: def.run,
          memoryResource: def.memoryResource,
        }),
      );
      this.#depths[segments.length] = true;
    });
  }

  /**
   * Every interpretation of (method, path) under ANY prefix made of whole leading segments (including ''), shortest
   * prefix first, then in route declaration order. `path` is the raw (still percent-encoded) path without query.
   * 'invalid' when a segment that would become a parameter of a route whose path matches (any method, any prefix)
   * has malformed percent-encoding (Express answers 400 there) or decodes to a name every plain object has
   * (`__proto__`, `constructor`...: Mastra's lookups answer a 500). Paths with more than 64 segments
   * match nothing. An empty segment (`//`) never matches in the route part; a single one may sit inside or end the
   * prefix, because Express 4 (not 5) accepts one after a mount path: '/api//agents/x' reaches '/agents/:agentId'.
   */
  match(method: string, path: string): readonly RouteResource[] | 'invalid' {
    // One request asks up to four times (the target check, the query-parser check, what Mastra serves, the policy),
    // with the same method and path: the last answer is kept (it is immutable, and depends on nothing else).
    if (path === this.#lastPath && method === this.#lastMethod) return this.#last;
    const found = this.#match(method, path);
    this.#lastMethod = method;
    this.#lastPath = path;
    return (this.#last = found);
  }

  #lastMethod = '';
  #lastPath = '';
  #last: readonly RouteResource[] | 'invalid' = EMPTY;

  #match(method: string, path: string): readonly RouteResource[] | 'invalid' {
    if (path.charCodeAt(0) !== 47 /* '/' */) return EMPTY;
    // Split into raw segments, remembering where each starts (for the prefix string), with an early bail-out.
    const segments: string[] = [];
    const keys: string[] = [];
    const starts: number[] = [];
    // A leading empty segment ('//x') matches no mount and no route, in Express 4 or 5.
    if (path.length > 1 && path.charCodeAt(1) === 47) return EMPTY;
    let end = path.length;
    if (end > 1 && path.charCodeAt(end - 1) === 47) end--; // one trailing slash is allowed (non-strict)
    let lastEmpty = -1;
    let pos = 1;
    while (pos < end) {
      if (segments.length === MAX_SEGMENTS) return EMPTY;
      let slash = path.indexOf('/', pos);
      if (slash === -1 || slash > end) slash = end;
      if (slash === pos) {
        // An empty segment ('//') matches neither a literal nor a param. Express 4 (not 5) still lets one follow a
        // mount path ('/api//agents' reaches '/agents' under app.use('/api')): so it may be part of a prefix, never
        // of the route part, and two in a row match nothing anywhere.
        if (lastEmpty === segments.length - 1) return EMPTY;
        lastEmpty = segments.length;
      }
      starts.push(pos);
      const segment = path.slice(pos, slash);
      segments.push(segment);
      keys.push(literalKey(segment)); // once per segment, not once per prefix tried
      pos = slash + 1;
    }
    if (end > 1 && path.charCodeAt(end - 1) === 47) {
      // '/a//': the trailing slash was taken off, the empty segment before it remains (loop stops short of it).
      if (lastEmpty === segments.length - 1) return EMPTY;
      lastEmpty = segments.length;
      starts.push(end);
      segments.push('');
      keys.push('');
    }

    const upper = method.toUpperCase();
    // Express serves HEAD with GET handlers (there are no HEAD-only routes to prefer here).
    const alsoGet = upper === 'HEAD';
    const out: RouteResource[] = [];
    const n = segments.length;
    const found: Hit[] = []; // shared by all prefixes: hits of prefix k are found[from..]
    for (let k = lastEmpty + 1; k <= n; k++) {
      if (this.#depths[n - k] !== true) continue;
      const from = found.length;
      walk(this.#root, segments, keys, k, [], found);
      if (found.length === from) continue;
      const prefix =
        k === 0
          ? ''
          : lastEmpty === -1
            ? path.slice(0, (starts[k] ?? end + 1) - 1)
            : // Express 4's baseUrl leaves the empty segments out: '/api//agents' is '/agents' under '/api'.
              '/' + segments.slice(0, k).filter((segment) => segment !== '').join('/');
      // Like Express, a malformed param fails the request as soon as a route's PATH matches, whatever its method
      // (Express's router decodes params before it checks the method, then answers 400).
      for (let h = from; h < found.length; h++) {
        for (const raw of (found[h] as Hit).values) {
          const value = decodeParam(raw);
          // `__proto__`, `constructor`, `toString`...: Mastra looks ids up in plain objects and answers a 500.
          if (value === undefined || BUILT_IN_NAMES.has(value)) return 'invalid';
        }
      }
      // Usually one trie path ends under a prefix; with several (literal and param branch both reaching a route)
      // merge them back into declaration order.
      let hits: Array<{ entry: Entry; values: readonly string[] }>;
      if (found.length - from === 1) {
        const hit = found[from] as Hit;
        hits = hit.node.entries.map((entry) => ({ entry, values: hit.values }));
      } else {
        hits = [];
        for (let h = from; h < found.length; h++) {
          const hit = found[h] as Hit;
          for (const entry of hit.node.entries) hits.push({ entry, values: hit.values });
        }
        hits.sort((x, y) => x.entry.index - y.entry.index);
      }
      for (const { entry, values } of hits) {
        if (entry.method !== upper && entry.method !== 'ALL' && !(alsoGet && entry.method === 'GET')) continue;
        const params: Record<string, string> = {};
        for (let i = 0; i < entry.names.length; i++) {
          params[entry.names[i] as string] = decodeParam(values[i] as string) as string; // validated above
        }
        out.push(
          Object.freeze({
            method: entry.method,
            route: entry.route,
            prefix,
            params: Object.freeze(params),
            permission: entry.permission,
            addressedInBody: entry.addressedInBody,
            queryParams: entry.queryParams,
            bodyParams: entry.bodyParams,
            bodySetsPathParams: entry.bodySetsPathParams,
            run: entry.run,
            memoryResource: entry.memoryResource,
          }),
        );
      }
    }
    return out.length === 0 ? EMPTY : Object.freeze(out);
  }
}

/** Depth-first walk of the trie from segment `i`, trying the literal child before the param child. */
function walk(
  node: TrieNode,
  segments: readonly string[],
  keys: readonly string[],
  i: number,
  values: string[],
  found: Hit[],
): void {
  if (i === segments.length) {
    if (node.entries.length > 0) found.push({ node, values: values.slice() });
    return;
  }
  const literal = node.literal.get(keys[i] as string);
  if (literal) walk(literal, segments, keys, i + 1, values, found);
  if (node.param) {
    values.push(segments[i] as string);
    walk(node.param, segments, keys, i + 1, values, found);
    values.pop();
  }
}
