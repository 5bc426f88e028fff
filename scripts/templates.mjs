// Writes the plain CloudFormation template (templates/cloudformation/mtls-api.json) from the same construct the
// CDK users import, synthesized offline; test/cdk/template.test.ts fails when the committed file differs.
// Run after `npm run build` (it imports dist/cdk/index.js): `npm run templates`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { templateJson, TEMPLATE_FILE } = await import('../dist/cdk/index.js');
const file = join(root, TEMPLATE_FILE);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, templateJson());
process.stdout.write(`wrote ${TEMPLATE_FILE}\n`);
