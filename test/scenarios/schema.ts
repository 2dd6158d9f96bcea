/** Validation of run reports against schema/run-report.schema.json (Ajv, draft 2020-12). */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';

const schema = JSON.parse(
  readFileSync(new URL('../../schema/run-report.schema.json', import.meta.url), 'utf8'),
) as object;
const validate = new Ajv2020({ allErrors: true }).compile(schema);

/** The schema errors of `doc` as one readable string; '' when it is valid. */
export function schemaErrors(doc: unknown): string {
  if (validate(doc)) return '';
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`).join('; ');
}
