/**
 * Keeps the README true: every ```ts / ```tsx block in README.md is written to .readme-snippets/ and type-checked
 * against the package's sources (`npm run typecheck` runs this). The "Testing your app" block is a test file of
 * its own and runs in `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const dir = '.readme-snippets';
const readme = readFileSync('README.md', 'utf8');
const blocks = [...readme.matchAll(/```(ts|tsx)\n([\s\S]*?)```/g)].filter(([, , code]) => !code!.includes("describe('protected routes'"));

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir);
blocks.forEach(([, lang, code], i) => {
  // Snippets written as if in examples/ (the mixed-app one imports './mastra/index.js').
  const source = code!.replaceAll("'./mastra/index.js'", "'../examples/mastra/index.js'");
  writeFileSync(`${dir}/snippet-${i + 1}.${lang}`, `${source}\nexport {};\n`);
});
writeFileSync(
  `${dir}/tsconfig.json`,
  JSON.stringify({ extends: '../tsconfig.json', compilerOptions: { noEmit: true, rootDir: '..' }, include: ['*.ts', '*.tsx'] }),
);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', `${dir}/tsconfig.json`], { stdio: 'inherit' });
  console.log(`README: ${blocks.length} code blocks type-check`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
