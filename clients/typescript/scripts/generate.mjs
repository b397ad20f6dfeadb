// Generates src/schema.ts from the committed openapi/openapi.json with openapi-typescript.
//   npm run sdk                              (from the repository root)
//   node clients/typescript/scripts/generate.mjs [out-file]
// test/sdk.e2e-spec.ts generates into a temp file and fails when the committed one differs.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';

const SPEC = new URL('../../../openapi/openapi.json', import.meta.url);
const OUT = new URL('../src/schema.ts', import.meta.url);

export async function generateSchema() {
  const spec = JSON.parse(readFileSync(SPEC, 'utf8'));
  const ast = await openapiTS(spec, {
    // Absent optional fields stay absent (`?:`), as the API sends them.
    defaultNonNullable: false,
    silent: true,
  });
  return `${COMMENT_HEADER}// Source: openapi/openapi.json. Regenerate with \`npm run sdk\`.\n\n${astToString(ast)}`;
}

const out = process.argv[2] ?? fileURLToPath(OUT);
writeFileSync(out, await generateSchema());
process.stdout.write(`wrote ${out}\n`);
