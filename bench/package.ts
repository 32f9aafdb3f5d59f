/**
 * The package as users run it: the compiled build in dist/ (`npm run bench` builds it first), typed by the sources.
 * Measuring the sources through tsx would add the loader's own per-function wrappers to every request.
 */
const distIndex = new URL('../dist/src/index.js', import.meta.url).href;
const distMastra = new URL('../dist/src/mastra/index.js', import.meta.url).href;

export const pkg: typeof import('../src/index.js') = await import(distIndex);
export const pkgMastra: typeof import('../src/mastra/index.js') = await import(distMastra);
