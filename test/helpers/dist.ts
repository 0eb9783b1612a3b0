/**
 * Is dist/ (what `npm run build` compiles) up to date with the sources? Tests that run the built keyctl (the CLI as a
 * child process, bots importing the client library, multi-process tests) would otherwise test old code without a word.
 *
 * One check, used by the vitest globalSetup of the `slow` and `faults` projects (test/helpers/dist-setup.ts), by
 * `assertBuilt()` in test/helpers/cli.ts and by the unit tests that spawn the built code.
 *
 * Every source file that tsconfig.json and the client package's clients/node/tsconfig.json compile (their `include`
 * directories) is compared with its own compiled counterpart: the output must exist and be at least as new as the
 * source. tsc (not incremental here) rewrites every output on each build, so after `npm run build` all pass, and after
 * a `git clone` the sources are older than the build that follows. Each tsconfig and the files it extends count too
 * (they change the output); package.json does not: nothing in it but `type` changes what tsc emits, and counting it
 * would demand a rebuild after every `npm install`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

const BUILD_HINT =
  'Run `npm run build` (npm test and npm run test:faults build first; `npm run test:fast` and a bare `npx vitest` do not).';
const SHOWN = 8;

interface TsConfig {
  extends?: string;
  include?: string[];
  compilerOptions?: { outDir?: string; rootDir?: string };
}

function readTsConfig(path: string): TsConfig {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as TsConfig;
  } catch (err) {
    throw new Error(`test/helpers/dist.ts cannot read ${relative(REPO, path)} as JSON (${(err as Error).message}): update the check.`);
  }
}

/** The directories tsconfig.json compiles: each `include` entry must read `<dir>/**\/*.ts`. */
function sourceDirs(config: TsConfig): string[] {
  return (config.include ?? []).map((pattern) => {
    const m = /^([^*]+?)\/\*\*\/\*\.ts$/.exec(pattern);
    if (!m?.[1]) throw new Error(`test/helpers/dist.ts does not understand tsconfig.json include "${pattern}": update the check.`);
    return m[1];
  });
}

/** tsconfig.json and each relative file it extends, in order. */
function configChain(first: string): string[] {
  const chain: string[] = [];
  let path: string | undefined = first;
  while (path && existsSync(path) && !chain.includes(path)) {
    chain.push(path);
    const ext: string | undefined = readTsConfig(path).extends;
    path = ext?.startsWith('.') ? resolve(dirname(path), ext.endsWith('.json') ? ext : `${ext}.json`) : undefined;
  }
  return chain;
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

const OUT_EXT: Record<string, string> = { '.ts': '.js', '.mts': '.mjs', '.cts': '.cjs' };

/**
 * What is wrong with dist/, one line each (repo-relative paths); empty when every compiled file is there and at least
 * as new as its source and as the tsconfig files.
 */
export function distProblems(root: string = REPO): string[] {
  return PROJECTS.flatMap((project) => projectProblems(root, project));
}

/**
 * The tsc projects `npm run build` compiles, in its order: the client package first (keyctl imports it, through
 * node_modules/@keyctl/client, as built JS), then keyctl. Each is checked against its own outDir.
 */
const PROJECTS = ['clients/node/tsconfig.json', 'tsconfig.json'];

function projectProblems(root: string, project: string): string[] {
  const tsconfig = join(root, project);
  const base = dirname(tsconfig);
  const config = readTsConfig(tsconfig);
  const outDir = resolve(base, config.compilerOptions?.outDir ?? 'dist');
  const rootDir = resolve(base, config.compilerOptions?.rootDir ?? '.');
  const rel = (p: string) => relative(root, p);
  if (!existsSync(outDir)) return [`${rel(outDir)}/ does not exist: ${rel(tsconfig)} has not been built here`];
  const problems: string[] = [];
  let oldestOutput: { path: string; mtimeMs: number } | undefined;
  for (const dir of sourceDirs(config)) {
    const abs = resolve(base, dir);
    if (!existsSync(abs)) continue;
    for (const source of walk(abs)) {
      const m = /(\.d)?(\.[mc]?ts)$/.exec(source);
      if (!m || m[1] || !m[2]) continue; // not TypeScript, or a declaration file (no output)
      const output = join(outDir, relative(rootDir, source)).slice(0, -m[2].length) + OUT_EXT[m[2]];
      if (!existsSync(output)) {
        problems.push(`${rel(output)} is missing (source ${rel(source)})`);
        continue;
      }
      const out = statSync(output).mtimeMs;
      const src = statSync(source).mtimeMs;
      if (out < src) problems.push(`${rel(source)} is newer than ${rel(output)} (by ${((src - out) / 1000).toFixed(1)} s)`);
      if (!oldestOutput || out < oldestOutput.mtimeMs) oldestOutput = { path: output, mtimeMs: out };
    }
  }
  if (oldestOutput) {
    for (const file of configChain(tsconfig)) {
      if (statSync(file).mtimeMs > oldestOutput.mtimeMs)
        problems.push(`${rel(file)} changed after the last build (it is newer than ${rel(oldestOutput.path)})`);
    }
  }
  return problems;
}

let fresh = false;

/** Throws, saying to run `npm run build`, when dist/ is missing or older than the sources. Passes are remembered. */
export function assertDistFresh(root: string = REPO): void {
  if (fresh) return;
  const problems = distProblems(root);
  if (problems.length > 0) {
    const shown = problems.slice(0, SHOWN).map((p) => `  - ${p}`);
    if (problems.length > SHOWN) shown.push(`  - ... and ${problems.length - SHOWN} more`);
    throw new Error(
      `dist/ is missing or older than the sources, so tests of the built keyctl would run old code:\n${shown.join('\n')}\n${BUILD_HINT}`,
    );
  }
  fresh = true;
}
