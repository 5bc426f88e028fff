/**
 * Dependencies point one way: cli -> domain -> ports <- adapters, and lambda -> domain -> ports. This scans the
 * import statements of every file under src/ (static, re-exports, side-effect and dynamic `import('...')`),
 * read with the TypeScript parser so multi-line imports and comments are handled.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

interface Import {
  /** the file, relative to the repository root, with forward slashes */
  file: string;
  specifier: string;
  /** for a relative specifier: the file it resolves to, relative to the repository root */
  target?: string;
  dynamic: boolean;
  /** `import type …` / `export type …`: erased at build time, never loaded */
  typeOnly?: boolean;
}

const rel = (p: string) => relative(ROOT, p).split(sep).join('/');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return walk(p);
    return /\.(m|c)?tsx?$/.test(name) && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The source file a relative specifier names (`./x.js` is `./x.ts` under NodeNext). */
function resolveRelative(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  const candidates = [base, base.replace(/\.(m|c)?js$/, '.$1ts'), `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? base;
}

function importsOf(file: string, text = readFileSync(file, 'utf8')): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Import[] = [];
  const add = (spec: string, dynamic: boolean, typeOnly = false) =>
    out.push({ file: rel(file), specifier: spec, dynamic, ...(typeOnly ? { typeOnly } : {}), ...(spec.startsWith('.') ? { target: rel(resolveRelative(file, spec)) } : {}) });
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly = ts.isImportDeclaration(node) ? !!node.importClause?.isTypeOnly : node.isTypeOnly;
      add(node.moduleSpecifier.text, false, typeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      add(node.moduleReference.expression.text, false);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      // a computed specifier cannot be checked statically: report it so nobody hides an import that way
      add(arg && ts.isStringLiteralLike(arg) ? arg.text : `<computed: ${arg?.getText(sf) ?? ''}>`, true);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal.text, false, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

const FILES = walk(SRC);
const ALL: Import[] = FILES.flatMap((f) => importsOf(f));

const under = (dir: string) => (p: string | undefined) => p !== undefined && (p === dir || p.startsWith(`${dir}/`));
const inDomain = (f: string) => under('src/domain')(f) || f === 'src/ports.ts';
const isCli = under('src/cli');
const isAdapters = under('src/adapters');
const isLambda = under('src/lambda');
const isGateway = under('src/gateway');
const isCdk = under('src/cdk');
/** The one adapter file the CDK construct reads: the stack's output keys, shared with `ca init --from-stack`. */
const STACK_OUTPUTS = 'src/adapters/aws/stack-outputs.ts';
/** `aws`, `local`, `threads`: the adapter family a file under src/adapters/ belongs to */
const adapterFamily = (p: string | undefined) => (isAdapters(p) ? p!.split('/')[2] : undefined);

const pkg = (spec: string, ...names: string[]) =>
  names.some((n) => (n.endsWith('/') ? spec.startsWith(n) : spec === n || spec.startsWith(`${n}/`)));

/** `file: import 'spec'` lines, one per offence, for a readable failure. */
const describeAll = (found: Import[]) => found.map((i) => `${i.file}: ${i.dynamic ? 'import(' : 'import '}'${i.specifier}'${i.dynamic ? ')' : ''}${i.target ? ` -> ${i.target}` : ''}`);

describe('import scanner', () => {
  it('sees every kind of import, and not imports in comments or strings', () => {
    const probe = [
      "import 'reflect-metadata';",
      'import {',
      '  a,',
      '  b,',
      "} from '../adapters/local/files.js';",
      "import type { Store } from '../ports.js';",
      "export { x } from 'node:fs';",
      "import * as cp from 'node:child_process';",
      "const m = await import('commander');",
      'const n = await import(`inquirer`);',
      "// import { nope } from 'in-a-comment';",
      "const s = \"import { nope } from 'in-a-string'\";",
    ].join('\n');
    const found = importsOf(join(SRC, 'domain', 'probe.ts'), probe);
    expect(found.find((i) => i.specifier === '../ports.js')?.typeOnly).toBe(true);
    expect(found.find((i) => i.specifier === 'node:fs')?.typeOnly).toBeUndefined();
    expect(found.map((i) => [i.specifier, i.dynamic, i.target])).toEqual([
      ['reflect-metadata', false, undefined],
      ['../adapters/local/files.js', false, 'src/adapters/local/files.ts'],
      ['../ports.js', false, 'src/ports.ts'],
      ['node:fs', false, undefined],
      ['node:child_process', false, undefined],
      ['commander', true, undefined],
      ['inquirer', true, undefined],
    ]);
  });

  it('reads the real source tree', () => {
    expect(FILES.length).toBeGreaterThan(20);
    // the rules below cover these directories: each must be seen, or a rule about it would pass vacuously
    for (const d of ['src/adapters/aws', 'src/adapters/local', 'src/adapters/threads', 'src/gateway', 'src/cdk']) expect(ALL.some((i) => under(d)(i.file)), d).toBe(true);
    expect(ALL).toContainEqual(expect.objectContaining({ file: 'src/domain/template.ts', specifier: './der.js', target: 'src/domain/der.ts' }));
    expect(ALL).toContainEqual(expect.objectContaining({ file: 'src/adapters/local/files.ts', specifier: 'node:fs' }));
    expect(ALL.some((i) => i.dynamic)).toBe(true);
  });
});

describe('architecture', () => {
  it('src/domain/** and src/ports.ts import no file system, process, AWS SDK, CLI library, nor cli/adapters code', () => {
    const bad = ALL.filter(
      (i) =>
        inDomain(i.file) &&
        (pkg(i.specifier, 'node:fs', 'fs', 'node:path', 'path', 'node:child_process', 'child_process', '@aws-sdk/', 'commander', 'inquirer', '@inquirer/') ||
          i.specifier.startsWith('<computed') ||
          isCli(i.target) ||
          isAdapters(i.target) ||
          isLambda(i.target)),
    );
    expect(describeAll(bad)).toEqual([]);
  });

  it('one CRL builder: only src/domain/crl.ts encodes with the CertificateList / TBSCertList schemas', () => {
    const users = FILES.map((f) => rel(f)).filter((f) => /\b(CertificateList|TBSCertList|RevokedCertificate)\b/.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(users).toEqual(['src/domain/crl.ts']);
  });

  it('src/adapters/** never import src/cli', () => {
    const bad = ALL.filter((i) => isAdapters(i.file) && (isCli(i.target) || i.specifier.startsWith('<computed')));
    expect(describeAll(bad)).toEqual([]);
  });

  it('adapters stand side by side: src/adapters/aws, src/adapters/local and src/adapters/threads never import each other', () => {
    const bad = ALL.filter((i) => isAdapters(i.file) && isAdapters(i.target) && adapterFamily(i.file) !== adapterFamily(i.target));
    expect(describeAll(bad)).toEqual([]);
  });

  it('src/gateway/** may use the domain, the ports and the adapters, never src/cli, commander or inquirer', () => {
    const bad = ALL.filter((i) => isGateway(i.file) && (isCli(i.target) || pkg(i.specifier, 'commander', 'inquirer', '@inquirer/') || i.specifier.startsWith('<computed')));
    expect(describeAll(bad)).toEqual([]);
  });

  it('only src/cli/**, src/lambda/** and src/gateway/** (the composition roots) import from src/adapters (src/cdk: the stack output keys only)', () => {
    const bad = ALL.filter((i) => isAdapters(i.target) && !isAdapters(i.file) && !isCli(i.file) && !isLambda(i.file) && !isGateway(i.file) && !(isCdk(i.file) && i.target === STACK_OUTPUTS));
    expect(describeAll(bad)).toEqual([]);
  });

  const CDK_PACKAGES = ['aws-cdk-lib', 'constructs', 'cdk-nag'];

  it('nothing outside src/cdk/** imports src/cdk, aws-cdk-lib, constructs or cdk-nag (the CLI and the Lambda bundles never load the CDK)', () => {
    const bad = ALL.filter((i) => !isCdk(i.file) && (isCdk(i.target) || pkg(i.specifier, ...CDK_PACKAGES)));
    expect(describeAll(bad)).toEqual([]);
  });

  it('src/cdk/** imports no src/cli, no adapter but the stack output keys, nothing of the domain, and no AWS SDK', () => {
    const bad = ALL.filter(
      (i) =>
        isCdk(i.file) &&
        (isCli(i.target) || (isAdapters(i.target) && i.target !== STACK_OUTPUTS) || inDomain(i.target ?? '') || pkg(i.specifier, '@aws-sdk/', 'commander', 'inquirer', '@inquirer/') || i.specifier.startsWith('<computed')),
    );
    expect(describeAll(bad)).toEqual([]);
  });

  it('the stack output keys are constants only: the file imports nothing', () => {
    expect(ALL.filter((i) => i.file === STACK_OUTPUTS)).toEqual([]);
    expect(ALL.some((i) => isCdk(i.file) && i.target === STACK_OUTPUTS)).toBe(true);
  });

  const LAMBDA_FORBIDDEN = (i: Import) =>
    isCli(i.target) || pkg(i.specifier, 'commander', 'inquirer', '@inquirer/', '@peculiar/', 'reflect-metadata') || i.specifier.startsWith('<computed');

  it('src/lambda/** never import src/cli, commander, inquirer, @peculiar/* or reflect-metadata', () => {
    const bad = ALL.filter((i) => isLambda(i.file) && LAMBDA_FORBIDDEN(i));
    expect(describeAll(bad)).toEqual([]);
  });

  it.each(['src/lambda/handler.ts', 'src/lambda/token-handler.ts'])('nothing the Lambda handler %s reaches (following relative imports) imports them either', (entry) => {
    if (!existsSync(join(ROOT, entry))) return;
    const byFile = new Map<string, Import[]>();
    for (const i of ALL) byFile.set(i.file, [...(byFile.get(i.file) ?? []), i]);
    const seen = new Set<string>();
    const queue = [entry];
    const bad: Import[] = [];
    const via = new Map<string, string>();
    while (queue.length) {
      const f = queue.shift()!;
      if (seen.has(f)) continue;
      seen.add(f);
      for (const i of byFile.get(f) ?? []) {
        if (LAMBDA_FORBIDDEN(i)) bad.push(i);
        if (i.target && !seen.has(i.target)) {
          if (!via.has(i.target)) via.set(i.target, f);
          queue.push(i.target);
        }
      }
    }
    expect(seen.size).toBeGreaterThan(1);
    const path = (f: string): string => (via.has(f) ? `${path(via.get(f)!)} -> ${f}` : f);
    expect(bad.map((i) => `${describeAll([i])[0]} (reached via ${path(i.file)})`)).toEqual([]);
    // the token bundle signs with KMS: jose (the local key's SignJWT) and the local adapters stay out of it
    if (entry.endsWith('token-handler.ts')) expect([...seen].filter((f) => f.startsWith('src/adapters/local/') || f.startsWith('src/cli/'))).toEqual([]);
  });

  it('in src/lambda, jose is loaded only by src/lambda/token-verifier.ts, and that file only through import(): the mtls mode never evaluates either', () => {
    // the local store's token keys sign with jose in the CLI (src/adapters/local, which no Lambda bundle reaches)
    const jose = ALL.filter((i) => pkg(i.specifier, 'jose') && !i.typeOnly && i.file !== 'src/lambda/token-verifier.ts' && !i.file.startsWith('src/adapters/local/'));
    expect(describeAll(jose)).toEqual([]);
    const eager = ALL.filter((i) => i.target === 'src/lambda/token-verifier.ts' && !i.dynamic && !i.typeOnly);
    expect(describeAll(eager)).toEqual([]);
    // the rule is not vacuous: the verifier does import jose, and something loads it dynamically
    expect(ALL.some((i) => i.file === 'src/lambda/token-verifier.ts' && i.specifier === 'jose')).toBe(true);
    expect(ALL.some((i) => i.target === 'src/lambda/token-verifier.ts' && i.dynamic)).toBe(true);
  });
});
