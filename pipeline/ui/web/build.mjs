// Builds the UI bundle: src/main.jsx (with its CSS) -> ../static/app.js and ../static/app.css.
//
//   node build.mjs [--outdir DIR]
//
// Reproducible: the inputs are the sources and the exact versions in package-lock.json (installed with
// `npm ci`), esbuild's output depends on nothing else (no timestamps, no absolute paths: legal comments
// are kept at the end of the file, source paths in comments are relative). A test rebuilds into a
// temporary directory and compares the bytes with the committed files.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const at = args.indexOf('--outdir');
const outdir = at >= 0 ? resolve(args[at + 1]) : join(here, '..', 'static');

const result = await build({
  metafile: true,
  absWorkingDir: here,
  entryPoints: { app: 'src/main.jsx' },
  bundle: true,
  format: 'esm',
  // Browsers of the last few years (Chromium/Edge 109, Firefox 115 ESR, Safari 16): no transpiling
  // of what they all run natively, so the bundle stays small and readable in devtools.
  target: ['chrome109', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  legalComments: 'eof',
  charset: 'utf8',
  outdir,
  logLevel: 'warning',
});
// The licenses of the packages inside the bundle (all MIT today), next to it: the bundle is a copy.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const found = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (found) packages.add(found[1]);
}
const notices = [...packages].sort().map((name) => {
  const meta = JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8'));
  const license = readFileSync(join(here, 'node_modules', name, 'LICENSE'), 'utf8').trim();
  return `${name} ${meta.version} (${meta.license})\n\n${license}\n`;
});
writeFileSync(join(outdir, 'THIRD-PARTY-LICENSES.txt'), `Third-party code in app.js:\n\n${notices.join('\n---\n\n')}`);
console.log(`ui: built ${join(outdir, 'app.js')} and app.css`);
