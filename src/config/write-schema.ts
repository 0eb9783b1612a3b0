/** Writes docs/config.schema.json from the valibot schema (`npm run schema`). A test fails when the file drifts. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from './json-schema.js';

export const SCHEMA_FILE = fileURLToPath(new URL('../../../docs/config.schema.json', import.meta.url));

export function renderSchema(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

writeFileSync(SCHEMA_FILE, renderSchema());
process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
