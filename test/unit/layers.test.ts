/**
 * The layer and cycle rules of eslint.config.js (docs/architecture.md, "Layers"), tried on planted imports: each
 * plant must be refused, and the same file without it must pass, so a rule that silently stopped matching (a moved
 * folder, a resolver that no longer finds `.ts` behind `.js`) fails here instead of letting layers blur. That the
 * shipped code obeys them is `npm run lint`'s job.
 */
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const eslint = new ESLint({ cwd: ROOT });

async function ruleIds(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => m.ruleId ?? m.message);
}

describe('layer rules', () => {
  const plants: Array<[string, string, string]> = [
    [
      'the domain importing the config',
      'src/domain/planted.ts',
      "import { loadConfig } from '../config/load.js';\nexport const x = loadConfig;\n",
    ],
    [
      'the domain importing an exchange',
      'src/domain/planted.ts',
      "import { getAdapter } from '../exchanges/registry.js';\nexport const x = getAdapter;\n",
    ],
    [
      'the domain importing a type from a store',
      'src/domain/planted.ts',
      "import type { SecretStore } from '../../providers/types.js';\nexport type X = SecretStore;\n",
    ],
    [
      'an exchange adapter importing the config',
      'src/exchanges/bybit/planted.ts',
      "import type { Config } from '../../config/load.js';\nexport type X = Config;\n",
    ],
    [
      'an exchange adapter importing a store',
      'src/exchanges/planted.ts',
      "import { openStore } from '../../providers/registry.js';\nexport const x = openStore;\n",
    ],
    [
      'the rotation engine importing the CLI',
      'src/rotation/planted.ts',
      "import type { CliContext } from '../cli/context.js';\nexport type X = CliContext;\n",
    ],
    [
      'an application function importing the CLI',
      'src/app/planted.ts',
      "import { CliContext } from '../cli/context.js';\nexport const x = CliContext;\n",
    ],
    [
      'a store importing an exchange',
      'providers/planted.ts',
      "import { getAdapter } from '../src/exchanges/registry.js';\nexport const x = getAdapter;\n",
    ],
  ];

  it.each(plants)('refuses %s', async (_what, filePath, code) => {
    expect(await ruleIds(filePath, code)).toContain('no-restricted-imports');
  });

  it('accepts imports that go down the layers', async () => {
    const allowed: Array<[string, string]> = [
      [
        'src/domain/planted.ts',
        "import { UsageError } from '@keyctl/client/errors';\nimport { parseRef } from './refs.js';\nexport const x = [UsageError, parseRef];\n",
      ],
      ['src/exchanges/planted.ts', "import type { Scope } from '../domain/scopes.js';\nexport type X = Scope;\n"],
      ['src/rotation/planted.ts', "import { getAdapter } from '../exchanges/registry.js';\nexport const x = getAdapter;\n"],
      ['src/cli/planted.ts', "import { RotationEngine } from '../rotation/engine.js';\nexport const x = RotationEngine;\n"],
    ];
    for (const [filePath, code] of allowed) expect(await ruleIds(filePath, code), filePath).toEqual([]);
  });
});

describe('cycle rule', () => {
  // src/exchanges/ccxt.ts imports the redactor (a value import): the redactor importing ccxt back closes a cycle.
  it('refuses a static import that closes a cycle', async () => {
    const code = "import { createClient } from '../exchanges/ccxt.js';\nexport const x = createClient;\n";
    expect(await ruleIds('src/audit/redact.ts', code)).toContain('import-x/no-cycle');
  });
});
