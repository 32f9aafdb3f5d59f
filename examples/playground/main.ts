/**
 * The playground's script (bundled for the browser by ./index.ts). No framework: a few DOM calls.
 *
 * Tokens: in development mode, `POST /dev/token { user }` on the demo server stands in for Clerk's frontend
 * `getToken()` (a fresh token per call); with real Clerk, the page uses a token pasted from a signed-in app.
 * Calls go with the token in the `Authorization` header through the library's own client, or, same-origin, in the
 * `__session` cookie with `__client_uat`, as Clerk's browser SDK sets them.
 */
import { createClerkMastraClient, withClerkToken } from '../../src/client/index.js';
import type { PlaygroundConfig } from './index.js';

const config = JSON.parse(document.getElementById('demo-config')!.textContent!) as PlaygroundConfig;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

// ---- page set-up --------------------------------------------------------------------------------------------------
const modeLine = $('mode');
if (config.mode === 'development') {
  modeLine.innerHTML =
    '<strong>Development mode</strong>: no <code>CLERK_*</code> variables, so an embedded development issuer stands ' +
    'in for Clerk. This page gets its tokens from <code>POST /dev/token</code>, a development-only endpoint of the demo ' +
    "server standing in for Clerk's frontend <code>getToken()</code>; with real Clerk they come from " +
    '<code>Clerk.session.getToken()</code> (React: <code>useAuth().getToken()</code>).';
} else {
  modeLine.classList.add('clerk');
  modeLine.innerHTML =
    '<strong>Clerk mode</strong>: this server verifies real Clerk session tokens. Paste one from your signed-in app ' +
    '(<code>await window.Clerk.session.getToken()</code> in its console); <code>/dev/token</code> is off.';
}
modeLine.append(` Keys: ${config.keys}.`);

const users = $('users');
const choices = config.mode === 'development' ? config.users : [{ name: 'pasted', label: 'The user of the pasted token', userId: '' }];
for (const [i, user] of choices.entries()) {
  const label = document.createElement('label');
  const input = document.createElement('input');
  Object.assign(input, { type: 'radio', name: 'user', value: user.name, id: `user-${user.name}`, checked: i === 0 });
  label.append(input, ` ${user.label}${user.userId ? ` (${user.userId})` : ''}`);
  users.append(label);
}
$('paste').hidden = config.mode === 'development';

const picked = (name: string) => (document.querySelector(`input[name="${name}"]:checked`) as HTMLInputElement).value;
const userLabel = (name: string) =>
  name === 'signed-out' ? 'signed out' : (choices.find((u) => u.name === name)?.userId || 'pasted token');

// ---- tokens -------------------------------------------------------------------------------------------------------
/** Clerk's `getToken()` stand-in: a fresh token for the chosen user, or null when signed out. */
async function getToken(user: string): Promise<string | null> {
  if (user === 'signed-out') return null;
  if (config.mode === 'clerk') return ($('pasted') as HTMLTextAreaElement).value.trim() || null;
  const res = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  const body = (await res.json()) as { token?: string; message?: string };
  if (!res.ok || !body.token) throw new Error(`/dev/token answered ${res.status}: ${body.message ?? ''}`);
  return body.token;
}

function decode(token: string | null): unknown {
  if (!token) return null;
  try {
    const payload = token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0))));
  } catch {
    return '(not a JWT)';
  }
}

/** Clerk's browser cookies for a signed-in session, or for a signed-out browser (`__client_uat=0`). */
function setSessionCookies(token: string | null): void {
  const names = config.cookieSuffix ? ['', `_${config.cookieSuffix}`] : [''];
  for (const suffix of names) {
    if (token) {
      const iat = (decode(token) as { iat?: number }).iat ?? Math.floor(Date.now() / 1000);
      document.cookie = `__session${suffix}=${token}; path=/; SameSite=Lax`;
      document.cookie = `__client_uat${suffix}=${iat}; path=/; SameSite=Lax`;
    } else {
      document.cookie = `__session${suffix}=; path=/; max-age=0`;
      document.cookie = `__client_uat${suffix}=0; path=/; SameSite=Lax`;
    }
  }
}

// ---- calls --------------------------------------------------------------------------------------------------------
interface Exchange {
  status: number;
  body: unknown;
}

/** A fetch that remembers the last response (status and body), for display. */
function recording(into: { last?: Exchange }): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const text = await res.clone().text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: shown as text
    }
    into.last = { status: res.status, body };
    return res;
  };
}

async function call(kind: 'me' | 'admin' | 'agent'): Promise<void> {
  const user = picked('user');
  const transport = picked('transport') as 'header' | 'cookie';
  const city = ($('city') as HTMLInputElement).value.trim() || 'London';
  const path = kind === 'me' ? '/me' : kind === 'admin' ? '/admin/report' : '/api/agents/weatherAgent/generate';
  const memory = { thread: `playground-${user}`, resource: 'me' };
  const seen: { last?: Exchange; token?: string | null } = {};
  const trackedGetToken = async () => (seen.token = await getToken(user));
  let failure: string | undefined;

  try {
    if (transport === 'header') {
      // Cross-origin style: no cookies at all, a fresh token in the Authorization header of every request.
      if (kind === 'agent') {
        const client = createClerkMastraClient({
          baseUrl: location.origin,
          getToken: trackedGetToken,
          fetch: recording(seen),
          retries: 0,
          credentials: 'omit',
        });
        await client.getAgent('weatherAgent').generate(city, { memory });
      } else {
        await withClerkToken(trackedGetToken, { fetch: recording(seen) })(path, { credentials: 'omit' });
      }
    } else {
      // Same-origin: the browser sends Clerk's cookies, no Authorization header.
      setSessionCookies(await trackedGetToken());
      const init: RequestInit =
        kind === 'agent'
          ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: city, memory }) }
          : {};
      await recording(seen)(path, { ...init, credentials: 'same-origin' });
    }
  } catch (error) {
    // MastraClient throws for a non-2xx answer: the recorded response says what happened.
    if (!seen.last) failure = (error as Error).message;
  }
  show({ method: kind === 'agent' ? 'POST' : 'GET', path, user: userLabel(user), transport, exchange: seen.last, token: seen.token ?? null, failure });
}

function policyDecision(exchange: Exchange | undefined, code: string | undefined): string {
  if (!exchange) return '-';
  if (exchange.status < 300) return 'allowed';
  if (exchange.status === 403 && code === 'access-denied') return 'denied (authorizeUser said no)';
  if (exchange.status === 401) return 'not asked: no verified session';
  return 'not asked';
}

function show(r: { method: string; path: string; user: string; transport: string; exchange?: Exchange; token: string | null; failure?: string }) {
  const body = r.exchange?.body as { error?: string; text?: string } | undefined;
  const code = typeof body === 'object' && body && typeof body.error === 'string' ? body.error : undefined;
  const status = r.exchange?.status;
  const article = document.createElement('article');
  article.className = `result ${status === undefined ? '' : status < 300 ? 'ok' : 'client-error'}`;
  article.dataset.status = String(status ?? 'none');
  article.dataset.code = code ?? '';
  const title = document.createElement('div');
  const strong = document.createElement('strong');
  strong.textContent = `${r.method} ${r.path}`;
  title.append(strong, ` as ${r.user}, ${r.transport === 'header' ? 'Authorization header' : '__session cookie'}`);
  const facts = document.createElement('div');
  facts.className = 'facts';
  const fact = (name: string, value: string, cls: string) => {
    const span = document.createElement('span');
    span.className = cls;
    span.textContent = `${name}: ${value}`;
    facts.append(span);
  };
  fact('status', String(status ?? 'no answer'), 'status');
  fact('error code', code ?? '-', 'code');
  fact('policy', policyDecision(r.exchange, code), 'policy');
  const answer = document.createElement('pre');
  answer.className = 'body';
  answer.textContent =
    r.failure ?? (body && typeof body === 'object' && typeof body.text === 'string' ? `text: ${body.text}` : JSON.stringify(body, null, 2));
  const details = document.createElement('details');
  const summary = document.createElement('summary');
  summary.textContent = r.token ? 'decoded claims of the token sent' : 'no token sent';
  const claims = document.createElement('pre');
  claims.className = 'claims';
  claims.textContent = JSON.stringify(decode(r.token), null, 2);
  details.append(summary, claims);
  article.append(title, facts, answer, details);
  $('results').prepend(article);
}

for (const [id, kind] of [['call-me', 'me'], ['call-admin', 'admin'], ['call-agent', 'agent']] as const) {
  $(id).addEventListener('click', () => void call(kind));
}
$('clear').addEventListener('click', () => $('results').replaceChildren());
document.body.dataset.ready = 'true';
