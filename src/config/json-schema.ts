/**
 * JSON Schema of keyctl.yaml, as written to docs/config.schema.json. Kept apart from schema.ts so that loading the
 * config never imports the converter.
 */
import { toJsonSchema } from '@valibot/to-json-schema';
import { configSchema } from './schema.js';

/** JSON Schema of the config (what a user may write: defaults are optional), as written to docs/config.schema.json. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...toJsonSchema(configSchema, {
      target: 'draft-2020-12',
      typeMode: 'input',
      // Custom checks (durations, zones, addresses, from != to) and trimming have no JSON Schema form; docs/config.md
      // describes them.
      ignoreActions: ['check', 'trim'],
      // Kept as the file has always read: literals say they are strings, and no object lists an empty `required`.
      overrideSchema: ({ valibotSchema, jsonSchema }) => {
        if (valibotSchema.type === 'literal') return { type: 'string', ...jsonSchema };
        if (Array.isArray(jsonSchema.required) && jsonSchema.required.length === 0) {
          const { required: _none, ...rest } = jsonSchema;
          return rest;
        }
        return undefined;
      },
    }),
    $id: 'https://keyctl.dev/schema/keyctl.yaml.json',
    title: 'keyctl.yaml',
  };
}
