import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory of this package's package.json, whether the code runs from src/ or from bundled dist/. */
export function packageRoot(from = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && nameOf(pkg) === 'ca') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`failed to locate the ca package root from ${fileURLToPath(from)}`);
    dir = up;
  }
}

/** The name in a package.json; a file that is not JSON is some other package's: keep walking up. */
function nameOf(pkg: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name;
  } catch {
    return undefined;
  }
}
