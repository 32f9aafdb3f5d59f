/**
 * `npm run bench`: runs the bench sections in order and prints a summary of their targets.
 *
 * `npm run bench -- verify` runs only the named sections. Knobs (environment): `BENCH_ROUNDS`, `BENCH_SLICE_MS`,
 * `BENCH_TOKENS`. A missed target is reported, never a failure: the exit code is non-zero only when a section
 * crashes (a contender rejecting a valid token, a setup error...).
 */
import { heading, type SectionReport } from './lib.js';
import { section as verifySection } from './verify.js';
import { httpSection, mastraSection } from './http.js';

interface Section {
  name: string;
  run: () => Promise<SectionReport>;
}

/** In order. Add a section here (e.g. an HTTP one reusing `printTable` and `ratioLine` from `./lib.js`). */
const SECTIONS: Section[] = [{ name: 'verify', run: () => verifySection() }, { name: 'http', run: () => httpSection() }, { name: 'mastra', run: () => mastraSection() }];

const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const unknown = wanted.filter((name) => !SECTIONS.some((s) => s.name === name));
if (unknown.length > 0) {
  console.error(`bench: unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.map((s) => s.name).join(', ')}`);
  process.exit(2);
}
const selected = wanted.length > 0 ? SECTIONS.filter((s) => wanted.includes(s.name)) : SECTIONS;

const started = performance.now();
const reports: SectionReport[] = [];
for (const s of selected) reports.push(await s.run());

heading('summary');
for (const report of reports) {
  const scored = report.checks.filter((c) => !c.informational);
  const passed = scored.filter((c) => c.pass).length;
  console.log(`${report.title}: ${passed}/${scored.length} targets met`);
  for (const c of scored.filter((c) => !c.pass)) console.log(`  MISS  ${c.label}: ${c.ratio.toFixed(2)}x (target ${c.op} ${c.target}x)`);
}
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
