// @ts-check
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The layers (docs/architecture.md, "Layers"), as import rules. A specifier is matched as written, so each rule names
 * the layer's folder as a path segment: `../config/load.js`, `../../providers/registry.js`.
 * @param {string[]} layers folders the files of this block must not import
 * @param {string} why the layering rule, for the message
 */
function forbid(layers, why) {
  return {
    regex: `(^|/)(${layers.join('|')})/`,
    message: `${why} (docs/architecture.md, "Layers").`,
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'clients/*/dist/**', 'node_modules/**', 'coverage/**', 'docs/examples/**/node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Secrets must never reach the console by accident: output goes through the CLI's writer.
      'no-console': 'error',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Focused or skipped tests must not land (a skipped test needs its reason in its name and an explicit skipIf).
      'no-restricted-properties': [
        'error',
        { object: 'it', property: 'only' },
        { object: 'describe', property: 'only' },
        { object: 'test', property: 'only' },
        { object: 'it', property: 'skip' },
        { object: 'describe', property: 'skip' },
        { object: 'test', property: 'skip' },
      ],
      'no-console': 'off',
    },
  },
  { files: ['bench/**', 'docs/examples/**', 'src/sandbox/**'], rules: { 'no-console': 'off' } },
  {
    // No import cycles in the code that ships: two modules in a cycle cannot be understood, tested or replaced apart,
    // and a static cycle can hand one of them the other half-initialised. Type-only imports are erased and not counted
    // here; the layer rules below stop those from crossing layers. A cycle through a lazy `import()` is allowed: that
    // is how a table reaches the modules it lists without loading them (the exchange registry its adapters and
    // emulators, the command table its commands), and by the time it runs both modules have finished loading.
    files: ['src/**/*.ts', 'providers/**/*.ts', 'schedules/**/*.ts', 'clients/node/src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/parsers': importX.flatConfigs.typescript.settings['import-x/parsers'],
      'import-x/extensions': importX.flatConfigs.typescript.settings['import-x/extensions'],
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true, allowUnsafeDynamicCyclicDependency: true }] },
  },
  // Layers, top to bottom: cli -> app -> rotation, delivery, audit, events, schedules -> exchanges, providers, config
  // -> domain (and the error types, @keyctl/client/errors). A layer imports only what is below it; the daemon is a second
  // top beside cli.
  {
    files: ['src/**/*.ts', 'providers/**/*.ts', 'schedules/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [forbid(['cli'], 'Only the CLI imports the CLI: put what both need in src/app')] }],
    },
  },
  {
    files: ['src/exchanges/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            forbid(
              ['cli', 'app', 'rotation', 'delivery', 'config', 'providers'],
              'Exchange adapters talk to exchanges: they take what they need as arguments, never from the config or a store',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'ccxt', message: 'The domain is pure: exchange clients belong in src/exchanges.' }],
          patterns: [
            forbid(
              ['cli', 'app', 'rotation', 'delivery', 'audit', 'events', 'config', 'exchanges', 'providers', 'sandbox', 'schedules'],
              'The domain imports nothing but itself and the error types (@keyctl/client/errors): config, exchanges and stores depend on it, not the reverse',
            ),
          ],
        },
      ],
    },
  },
  {
    files: ['providers/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            forbid(
              ['cli', 'app', 'rotation', 'delivery', 'exchanges'],
              'Stores know nothing of exchanges or use cases: they keep secrets and coordination state',
            ),
          ],
        },
      ],
    },
  },
  {
    // The client package (clients/node) installs alone in a bot's project with no dependencies: it may import node
    // built-ins and its own files only. keyctl (for Vault/AWS tokens) is an optional peer, reached by a computed import().
    files: ['clients/node/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!node:|\\./|\\.\\./)|^(\\.\\./){2}',
              message: '@keyctl/client has no dependencies and ships alone: import node built-ins and its own files only.',
            },
          ],
        },
      ],
    },
  },
  {
    // Plain Node scripts (benchmarks, examples, test fixtures run as child processes).
    files: ['**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        performance: 'readonly',
      },
    },
  },
);
