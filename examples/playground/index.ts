/**
 * The playground served at `/` by `npm start`: one HTML file (./index.html) and one script, ./main.ts bundled for the
 * browser with esbuild at server start (it imports the library's client, src/client/index.ts, and
 * @mastra/client-js). The server's facts the page needs (mode, cookie suffix, sign-in choices) are put into the page
 * as JSON; no key, secret or token ever is.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Playground } from '../app.js';

export interface PlaygroundConfig {
  /** `development`: the embedded dev issuer, tokens from `POST /dev/token`; `clerk`: real Clerk, tokens pasted. */
  mode: 'development' | 'clerk';
  /** Suffix of this instance's Clerk cookie names (`__session_<suffix>`), when the publishable key is known. */
  cookieSuffix?: string;
  /** The sign-in choices of development mode. */
  users: Array<{ name: string; label: string; userId: string }>;
  /** One line on where the keys come from. */
  keys: string;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export async function buildPlayground(config: PlaygroundConfig): Promise<Playground> {
  const [html, bundle] = await Promise.all([
    readFile(here('./index.html'), 'utf8'),
    build({
      entryPoints: [here('./main.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      write: false,
      logLevel: 'silent',
      legalComments: 'none',
    }),
  ]);
  // `<` escaped: the JSON cannot close the script element it sits in.
  const json = JSON.stringify(config).replace(/</g, '\\u003c');
  const page = html.replace('<!-- demo-config -->', `<script type="application/json" id="demo-config">${json}</script>`);
  return { page, assets: { 'main.js': { type: 'text/javascript', body: bundle.outputFiles[0]!.text } } };
}
