// Bundles `keyctl exec`'s path (run by `npm run build`, after tsc): dist/src/cli/exec-bundle.js holds every module
// exec runs on each start, and dist/src/cli/exec-chunks/ every module it loads only sometimes (the config stack on a
// cache miss, the other providers, ccxt's adapters for --preflight, ...), each chunk importing what it shares with
// the others from the bundle, as tsc's modules import each other.
//
// Why: exec is in front of a bot's every start, and Node's ESM loader spends ~1 ms per module; exec's path is ~40
// modules, 35 of them on every start. bin.js uses the bundle when it is at least as new as the build (src/cli/bin.ts,
// loadExecFast), and the modules one by one otherwise (bench/results/startup.md measures both).
//
// One process, one copy of each module: an exec that runs from the bundle loads none of keyctl's own modules from
// anywhere else (a class in two copies fails `instanceof`; a lock table in two copies stops excluding), so everything
// exec can reach is in the bundle or its chunks, the client package (@keyctl/client) included. Other packages stay
// imports: they load from node_modules, once, when something needs them. The build refuses what would break that: a
// dynamic import of a computed name (it could reach a module outside), and import.meta outside the bundle's
// directory (a path relative to a module's own URL would point elsewhere).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST = resolve(ROOT, 'dist');
const CLI = resolve(DIST, 'src/cli');
const ENTRY = resolve(CLI, 'exec-fast.js');
const CHUNKS = 'exec-chunks';
const CORE = 'exec-core';
/** The client package's build: part of exec's path, so it goes in too (bin.js imports none of it before the bundle). */
const CLIENT = resolve(ROOT, 'clients/node/dist');
/** Modules exec imports lazily on every start: they go in the bundle itself (the audit log, the store, kill's wake-up). */
const EVERY_START = [
  'src/audit/log.js',
  'src/audit/key.js',
  'providers/registry.js',
  'providers/local/index.js',
  'src/delivery/supervisors.js',
].map((f) => resolve(DIST, f));

const own = (id) => id.startsWith(`${DIST}/`) || id.startsWith(`${CLIENT}/`);
const importsCache = new Map();
/** A built module's own static imports (import/export ... from) and literal dynamic ones (import('...')). */
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
  };
  importsCache.set(file, found);
  return found;
}
/** Every own module a start reaches through static imports from the entry and EVERY_START (rolldown resolves packages). */
function staticReach(roots, resolveId) {
  const seen = new Set();
  const queue = [...roots];
  while (queue.length > 0) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    for (const id of importsOf(file).static) {
      const target = resolveId(id);
      if (target && own(target)) queue.push(target);
    }
  }
  return seen;
}

const bundle = await rolldown({
  input: { 'exec-bundle': ENTRY },
  platform: 'node',
  // Packages stay imports, except the client package, which is keyctl's own code.
  external: (id, importer) => Boolean(importer) && !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('@keyctl/client'),
  logLevel: 'warn',
  onLog(level, log, handler) {
    // exec's modules import some modules both ways (statically on one path, lazily on another): that is by design.
    if (log.code === 'INEFFECTIVE_DYNAMIC_IMPORT') return;
    handler(level, log);
  },
});
const resolveClient = (id) =>
  id.startsWith('@keyctl/client/') ? resolve(CLIENT, `${id.slice('@keyctl/client/'.length)}.js`) : id.startsWith('/') ? id : null;
const everyStart = staticReach([ENTRY, ...EVERY_START], resolveClient);
rmSync(resolve(CLI, CHUNKS), { recursive: true, force: true });
const { output } = await bundle.write({
  dir: CLI,
  format: 'esm',
  entryFileNames: '[name].js',
  // Every module of every start in one file beside the entry (which imports it and exports exec-fast's exports).
  chunkFileNames: (chunk) => (chunk.name === CORE ? `${CORE}.js` : `${CHUNKS}/[name]-[hash].js`),
  codeSplitting: { groups: [{ name: CORE, test: (id) => everyStart.has(id) }] },
});
await bundle.close();

const chunks = output.filter((o) => o.type === 'chunk');
const entry = chunks.find((c) => c.fileName === 'exec-bundle.js');
if (!entry) throw new Error('exec-bundle: rolldown wrote no dist/src/cli/exec-bundle.js.');
// What the bundle imports of keyctl's own besides packages and node: (a group chunk of its own, at most).
const startFiles = [entry.fileName, ...entry.imports.filter((f) => !f.startsWith('node:') && chunks.some((c) => c.fileName === f))];
const modulesOf = (c) => Object.keys(c.modules).filter(own);
for (const c of chunks) {
  for (const file of modulesOf(c)) {
    const src = readFileSync(file, 'utf8');
    if (/\bimport\(\s*[^'"\s)]/.test(src)) {
      throw new Error(`exec-bundle: ${relative(ROOT, file)} has a dynamic import of a computed name; exec's path cannot hold it.`);
    }
    if (src.includes('import.meta') && (dirname(resolve(CLI, c.fileName)) !== dirname(file) || !startFiles.includes(c.fileName))) {
      throw new Error(`exec-bundle: ${relative(ROOT, file)} uses import.meta, and its chunk ${c.fileName} is not beside it.`);
    }
  }
}
const listing = {
  // Loaded on every start.
  start: Object.fromEntries(
    startFiles.map((f) => [
      f,
      modulesOf(chunks.find((c) => c.fileName === f))
        .map((m) => relative(ROOT, m))
        .sort(),
    ]),
  ),
  // Loaded when a start needs them.
  lazy: Object.fromEntries(
    chunks
      .filter((c) => !startFiles.includes(c.fileName))
      .map((c) => [
        c.fileName,
        modulesOf(c)
          .map((m) => relative(ROOT, m))
          .sort(),
      ])
      .sort((a, b) => a[0].localeCompare(b[0])),
  ),
};
writeFileSync(resolve(CLI, 'exec-bundle.json'), `${JSON.stringify(listing, null, 2)}\n`);
const startModules = Object.values(listing.start).flat().length;
process.stderr.write(
  `exec-bundle: ${startModules} modules in ${startFiles.length} file(s) for every start; ${Object.keys(listing.lazy).length} lazy chunks in dist/src/cli/${CHUNKS}/.\n`,
);
