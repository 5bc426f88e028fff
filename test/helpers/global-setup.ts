import type { TestProject } from 'vitest/node';
import { execFileSync } from 'node:child_process';
import { startMoto } from './moto.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** base URL of the moto server the AWS adapter tests run against */
    motoEndpoint: string;
  }
}

/**
 * Runs once before all tests. The CLI's end-to-end tests spawn `bin/ca.cjs`, which runs the built `dist/`,
 * so build first. Services (moto) are started here too and their addresses handed to the tests.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  const teardowns: (() => Promise<void>)[] = [];
  const moto = await startMoto();
  project.provide('motoEndpoint', moto.endpoint);
  teardowns.push(moto.stop);
  return async () => {
    for (const t of teardowns.reverse()) await t();
  };
}
