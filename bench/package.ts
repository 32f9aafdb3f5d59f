/**
 * The package as users run it: the compiled build in dist/ (`npm run bench` builds it first), typed by the sources.
 * Measuring the sources through tsx would add the loader's own per-function wrappers to every request. Loaded on
 * demand: an Express server must not carry Mastra's heap (a larger heap makes every GC dearer).
 */
export const loadPkg = (): Promise<typeof import('../src/index.js')> => import(new URL('../dist/src/index.js', import.meta.url).href);
export const loadPkgMastra = (): Promise<typeof import('../src/mastra/index.js')> => import(new URL('../dist/src/mastra/index.js', import.meta.url).href);
