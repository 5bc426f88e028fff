import { describe, it, expect } from 'vitest';
import { build } from 'esbuild';
import { resolve } from 'node:path';

/** Every file and package the entry point reaches, from esbuild's own resolution. */
async function reach(entry: string): Promise<string[]> {
  const r = await build({ entryPoints: [entry], bundle: true, write: false, metafile: true, platform: 'node', format: 'esm', logLevel: 'silent', absWorkingDir: resolve('.') });
  return Object.keys(r.metafile.inputs);
}

const FORBIDDEN = [/node_modules\/commander\//, /node_modules\/inquirer\//, /node_modules\/@inquirer\//, /node_modules\/@peculiar\//, /node_modules\/reflect-metadata\//, /node_modules\/@aws-sdk\//, /^src\/cli\//, /^src\/domain\/certificate\.ts$/, /^src\/domain\/truststore\.ts$/];

describe('the Lambda import graph', () => {
  it.each(['src/lambda/handler.ts', 'src/lambda/authorizer.ts'])('%s reaches nothing of the CLI', async (entry) => {
    const inputs = await reach(entry);
    expect(inputs).toContain(entry);
    for (const f of inputs) for (const re of FORBIDDEN) expect(f, `${entry} reaches ${f}`).not.toMatch(re);
    const ownSources = inputs.filter((f) => f.startsWith('src/'));
    expect(ownSources.every((f) => /^src\/(lambda|ports\.ts|domain\/(serial|errors|acceptance|spiffe|token-claims)\.ts|adapters\/aws\/)/.test(f)), ownSources.join(', ')).toBe(true);
  });
});
