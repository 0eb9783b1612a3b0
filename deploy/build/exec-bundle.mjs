// Bundles `keyctl exec`'s path into one file, dist/src/cli/exec-bundle.js (run by `npm run build`, after tsc).
//
// Why: exec is in front of a bot's every start, and Node's ESM loader spends ~1.5 ms per module; exec's path is ~35
// modules. One file instead saves ~40 ms per start (bench/results/startup.md). bin.js uses the bundle when it is at
// least as new as the build (src/cli/bin.ts, loadExecFast), and the modules one by one otherwise.
//
// What goes in: the static imports of exec-fast.js and of the modules exec loads lazily on every run (ROOTS), keyctl's
// own files only. What stays out, as imports of the files tsc wrote:
// - every package (node_modules): a package imported by a module inside the bundle would load with the bundle, eagerly;
// - every module exec loads only sometimes (the config stack on a cache miss, the other providers, ccxt for
//   --preflight, ...): they stay lazy;
// - every module that one of those can also import (errors.js, the document store, ...), and so on until nothing
//   changes: a module must exist once per process, or `instanceof` fails across two copies of a class and two copies of
//   a lock table stop excluding each other.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const ENTRY = resolve(DIST, 'src/cli/exec-fast.js');
const OUT = resolve(DIST, 'src/cli/exec-bundle.js');
/** Modules exec imports lazily on every start (the audit log, the store). */
const ROOTS = [
  ENTRY,
  'src/audit/log.js',
  'src/audit/key.js',
  'providers/registry.js',
  'providers/local/index.js',
  'src/delivery/supervisors.js',
].map((f) => resolve(DIST, f));

const importsCache = new Map();
/** A built module's imports: `static` (import/export ... from) and `dynamic` (import('...') with a literal). */
function importsOf(file) {
  let found = importsCache.get(file);
  if (found) return found;
  const src = readFileSync(file, 'utf8');
  const at = (specifier) => (specifier.startsWith('.') ? resolve(dirname(file), specifier) : specifier);
  found = {
    static: [
      ...src.matchAll(/^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm),
      ...src.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
    ].map((m) => at(m[1])),
    dynamic: [...src.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => at(m[1])),
  };
  importsCache.set(file, found);
  return found;
}

const isOwn = (id) => id.startsWith(DIST);

/** Every own module reachable from `roots` through static imports (and dynamic ones too when `dynamic`). */
function reach(roots, dynamic) {
  const seen = new Set();
  const queue = roots.filter(isOwn);
  while (queue.length > 0) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    const { static: s, dynamic: d } = importsOf(file);
    queue.push(...s.filter(isOwn), ...(dynamic ? d.filter(isOwn) : []));
  }
  return seen;
}

const candidates = reach(ROOTS, false);
// Modules loaded only sometimes: every literal dynamic import out of the candidates.
const lazy = [...candidates].flatMap((f) => importsOf(f).dynamic.filter((d) => isOwn(d) && !candidates.has(d)));
// Fixed point: what any module outside the bundle can reach stays outside too.
let outside = reach(lazy, true);
for (;;) {
  const shared = [...candidates].filter((f) => outside.has(f));
  const next = reach([...lazy, ...shared], true);
  if (next.size === outside.size) break;
  outside = next;
}
const inside = new Set([...candidates].filter((f) => !outside.has(f)));
if (!inside.has(ENTRY)) throw new Error('exec-bundle: exec-fast.js itself is shared with a lazily loaded module.');
for (const file of inside) {
  const src = readFileSync(file, 'utf8');
  // A non-literal dynamic import could reach anything: the bundle would then be unsafe to build this way.
  if (/\bimport\(\s*[^'"\s)]/.test(src)) {
    throw new Error(`exec-bundle: ${relative(DIST, file)} has a dynamic import of a computed name; list what it loads.`);
  }
  // Paths relative to a module's own URL would point elsewhere from the bundle's.
  if (src.includes('import.meta') && dirname(file) !== dirname(OUT)) {
    throw new Error(`exec-bundle: ${relative(DIST, file)} uses import.meta outside ${relative(DIST, dirname(OUT))}/.`);
  }
}

const bundle = await rolldown({
  input: ENTRY,
  platform: 'node',
  // Everything not inside stays an import, of the same file tsc wrote (rolldown rewrites the path relative to OUT).
  external: (id, importer) => {
    if (!importer) return false;
    const target = id.startsWith('.') || id.startsWith('/') ? resolve(dirname(importer), id) : id;
    return !inside.has(target);
  },
  logLevel: 'warn',
});
await bundle.write({ file: OUT, format: 'esm', codeSplitting: false });
await bundle.close();

const outsideUsed = [...outside].filter((f) => candidates.has(f)).map((f) => relative(DIST, f));
writeFileSync(
  resolve(DIST, 'src/cli/exec-bundle.json'),
  `${JSON.stringify({ inside: [...inside].map((f) => relative(DIST, f)).sort(), shared: outsideUsed.sort() }, null, 2)}\n`,
);
process.stderr.write(
  `exec-bundle: ${inside.size} modules in dist/src/cli/exec-bundle.js; ${outsideUsed.length} shared with lazy ones stay apart.\n`,
);
