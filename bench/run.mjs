// Runs every benchmark on this machine, side by side, and reports ratios (see bench/README.md).
//   npm run bench              full run (a few minutes)
//   npm run bench -- --quick   under a minute: shorter runs, 1,000 clients for the rotations
// Options: --clients N (local rotation and --from), --moto-clients N (rotation and --from on moto), --skip-moto,
//   --only S,S,... runs only those sections: issuance, cli, authorizer (warm on moto, and cold starts), cold (the
//   authorizer's cold starts alone, no moto), provision (local --from), rotation (local), moto (rotation and --from).
//   token (the authorizer's token modes: mtls+token beside mtls, warm and cold, the bundle with jose), tokens (the
//   token endpoint against PyJWT).
// `npm run bench` builds dist/ first; this script bundles its TypeScript workloads into bench/.build/.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = join(root, 'bench', '.build');
const RESULTS = join(root, 'bench', 'results');
const VENV = join(root, '.venv');
const PY = join(VENV, 'bin', 'python');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const CFG = {
  quick,
  issuanceSeconds: quick ? 1 : 3,
  opensslRuns: quick ? 30 : 100,
  coldRuns: quick ? 10 : 20,
  cliRuns: quick ? 10 : 20,
  hitDecisions: 20_000,
  missDecisions: quick ? 200 : 500,
  localClients: opt('--clients', quick ? 1_000 : 10_000),
  // moto's TransactWriteItems and Scan cost O(table) per call: 10,000 clients take ~10 minutes there, so the
  // default measures fewer and adds the planner's exact count for 10,000 (--moto-clients 10000 measures it).
  motoClients: opt('--moto-clients', quick ? 300 : 2_000),
  skipMoto: argv.includes('--skip-moto'),
  tokenSeconds: quick ? 1 : 3,
  // the longest the local CLI rows wait for a file system slowed by a recent mass deletion (see settleFs); 0: never
  fsSettleS: opt('--fs-settle', quick ? 0 : 300),
  only: argv.includes('--only') ? argv[argv.indexOf('--only') + 1].split(',') : undefined,
};
const SECTIONS = ['issuance', 'cli', 'authorizer', 'cold', 'provision', 'rotation', 'moto', 'token', 'tokens'];
for (const s of CFG.only ?? []) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section ${s} (sections: ${SECTIONS.join(', ')})`);
/** whether a section runs: all of them without --only */
const runs = (section) => !CFG.only || CFG.only.includes(section) || (section === 'cold' && CFG.only.includes('authorizer'));
const started = Date.now();
const log = (m) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${m}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const out = (cmd, args, o = {}) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...o }).trim();
const lastJsonLine = (s) => JSON.parse(s.trim().split('\n').filter((l) => l.startsWith('{')).pop());

/** Runs a child to completion without blocking this process's event loop (the fake registry lives here). */
function runChild(cmd, args, o = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...o });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-8000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = ms(t0);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
      else resolve({ stdout, stderr, wall });
    });
  });
}

// ---------------------------------------------------------------- setup

function ensurePython() {
  if (!existsSync(join(VENV, 'bin', 'moto_server'))) {
    log('installing moto into .venv (requirements-test.txt)');
    if (!existsSync(join(VENV, 'bin', 'pip'))) execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
    execFileSync(join(VENV, 'bin', 'pip'), ['install', '--quiet', '-r', join(root, 'requirements-test.txt')], { stdio: 'inherit' });
  }
  // moto depends on cryptography; checked rather than assumed.
  const v = out(PY, ['-c', 'import sys, cryptography, moto; print(sys.version.split()[0], cryptography.__version__, moto.__version__)']).split(' ');
  return { python: v[0], cryptography: v[1], moto: v[2] };
}

function machine() {
  let cpu = 'unknown';
  try {
    cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? cpu;
  } catch {}
  let openssl;
  try {
    openssl = out('openssl', ['version']);
  } catch {
    throw new Error('openssl is not on PATH: install it (e.g. apt-get install openssl)');
  }
  const nodeExtraCaCerts = process.env.NODE_EXTRA_CA_CERTS ? `set to ${process.env.NODE_EXTRA_CA_CERTS}, not passed to the start-up runs` : 'unset';
  return { nproc: availableParallelism(), cpu, node: process.version, openssl, ...ensurePython(), nodeExtraCaCerts, loadStart: loadavg().map((x) => +x.toFixed(2)) };
}

/**
 * Bundles the TypeScript workloads into bench/.build/ in a separate process: children spawned by a process
 * that has esbuild's service loaded were seen to hang at start-up (futex wait, no CPU) on this machine.
 */
function buildScratch() {
  execFileSync(process.execPath, [join(root, 'bench', 'build-scratch.mjs')], { stdio: 'inherit' });
}

// ---------------------------------------------------------------- issuance

async function opensslIssuance(n) {
  const dir = mkdtempSync(join(tmpdir(), 'ca-bench-openssl-'));
  try {
    const p = (f) => join(dir, f);
    writeFileSync(
      p('ca.cnf'),
      `[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n` +
        `[client]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n`,
    );
    const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    const ca = (name, cn, parent) =>
      out('openssl', ['req', '-x509', '-new', ...newKey, '-keyout', p(`${name}.key`), '-out', p(`${name}.crt`), '-subj', `/O=Bench Org/CN=${cn}`, '-days', '1000', '-config', p('ca.cnf'), '-extensions', 'ca', ...(parent ? ['-CA', p(`${parent}.crt`), '-CAkey', p(`${parent}.key`)] : [])]);
    ca('root', 'Bench Root');
    ca('inter', 'Bench Issuing', 'root');
    ca('inter2', 'Bench Issuing 2', 'root');
    for (let k = 0; k < 8; k++) {
      out('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(`c${k}.key`)]);
      out('openssl', ['pkey', '-in', p(`c${k}.key`), '-pubout', '-out', p(`c${k}.pub`)]);
    }
    const serial = () => '0x' + randomBytes(16).toString('hex').replace(/^[89a-f]/, '1');
    const work = {
      // (a) key generated + client profile + PEM certificate + PKCS#8 key (req writes PKCS#8 with -nodes)
      a: (i) => ['req', '-x509', '-new', ...newKey, '-keyout', p('k.pem'), '-out', p('a.pem'), '-subj', `/O=Bench Org/CN=client-${i}`, '-days', '365', '-CA', p('inter.crt'), '-CAkey', p('inter.key'), '-set_serial', serial(), '-config', p('ca.cnf'), '-extensions', 'client'],
      // (b) a given public key, (c) the same under a second intermediate: `x509 -new -force_pubkey`, no CSR
      b: (i) => ['x509', '-new', '-force_pubkey', p(`c${i % 8}.pub`), '-subj', `/O=Bench Org/CN=client-${i}`, '-CA', p('inter.crt'), '-CAkey', p('inter.key'), '-set_serial', serial(), '-days', '365', '-extfile', p('ca.cnf'), '-extensions', 'client', '-out', p('b.pem')],
      c: (i) => ['x509', '-new', '-force_pubkey', p(`c${i % 8}.pub`), '-subj', `/O=Bench Org/CN=client-${i}`, '-CA', p('inter2.crt'), '-CAkey', p('inter2.key'), '-set_serial', serial(), '-days', '365', '-extfile', p('ca.cnf'), '-extensions', 'client', '-out', p('c.pem')],
    };
    const rates = {};
    for (const [k, args] of Object.entries(work)) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const r = spawnSync('openssl', args(i), { stdio: ['ignore', 'ignore', 'pipe'] });
        if (r.status !== 0) throw new Error(`openssl ${k} failed: ${r.stderr}`);
      }
      rates[k] = n / (ms(t0) / 1000);
    }
    // the profile is the one ca issues: check the last certificate of each workload
    out('openssl', ['verify', '-CAfile', p('root.crt'), '-untrusted', p('inter.crt'), p('a.pem'), p('b.pem')]);
    out('openssl', ['verify', '-CAfile', p('root.crt'), '-untrusted', p('inter2.crt'), p('c.pem')]);
    return rates;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function issuance() {
  const s = String(CFG.issuanceSeconds);
  const runs = { node: [], python: [] };
  for (let k = 0; k < 2; k++) {
    log(`issuance: node run ${k + 1}`);
    runs.node.push(lastJsonLine((await runChild(process.execPath, [join(BUILD, 'issuance.mjs'), s])).stdout));
    log(`issuance: python run ${k + 1}`);
    runs.python.push(lastJsonLine((await runChild(PY, [join(root, 'bench', 'issuance.py'), s])).stdout));
  }
  const best = (rs) => {
    const b = {};
    for (const r of rs) for (const [k, v] of Object.entries(r)) if (typeof v === 'number') b[k] = Math.max(b[k] ?? 0, v);
    return b;
  };
  log(`issuance: openssl CLI, ${CFG.opensslRuns} processes per workload`);
  const openssl = await opensslIssuance(CFG.opensslRuns);
  return { node: best(runs.node), python: best(runs.python), openssl, runs };
}

// ---------------------------------------------------------------- moto

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** moto_server from .venv through bench/moto_server.py (one table backup per transaction, see that file). */
async function startMoto() {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(PY, [join(root, 'bench', 'moto_server.py'), '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) })).ok) break;
    } catch {}
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not start: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoint, stop };
}

/**
 * Start-up measurements (CLI, authorizer cold start, and the `node -e 0` they are compared with) run without
 * NODE_EXTRA_CA_CERTS: a machine that points it at the system bundle makes every Node start read ~150
 * certificates (~80 ms on the reference VM), which would flatter every ratio against `node -e 0`.
 */
const startupEnv = (() => {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
})();

const awsEnv = (endpoint, base = process.env) => {
  const env = { ...base, AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
  return env;
};

// ---------------------------------------------------------------- authorizer

/**
 * A loopback server answering DynamoDB GetItem and BatchGetItem (JSON 1.0 protocol) from the fixture's items;
 * over HTTPS when given a key and certificate (as DynamoDB itself answers). `count()` is GetItem requests,
 * `requests()` all requests.
 */
function fakeRegistry(items, tls) {
  let getItems = 0;
  let requests = 0;
  const handle = (req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const target = req.headers['x-amz-target'] ?? '';
      res.setHeader('content-type', 'application/x-amz-json-1.0');
      requests++;
      if (target === 'DynamoDB_20120810.BatchGetItem') {
        const [[table, { Keys }]] = Object.entries(JSON.parse(body).RequestItems);
        res.end(JSON.stringify({ Responses: { [table]: Keys.map((k) => items[k.pk.S]).filter(Boolean) }, UnprocessedKeys: {} }));
        return;
      }
      if (target !== 'DynamoDB_20120810.GetItem') {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: `unsupported ${target}` }));
        return;
      }
      getItems++;
      const pk = JSON.parse(body).Key?.pk?.S;
      res.end(JSON.stringify(items[pk] ? { Item: items[pk] } : {}));
    });
  };
  const server = tls ? createHttpsServer(tls, handle) : createServer(handle);
  const scheme = tls ? 'https' : 'http';
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ endpoint: `${scheme}://127.0.0.1:${server.address().port}`, count: () => getItems, requests: () => requests, close: () => new Promise((r) => server.close(r)) })),
  );
}

async function authorizer(moto) {
  const dir = join(BUILD, 'authorizer');
  mkdirSync(dir, { recursive: true });
  log('authorizer: bundling with buildAuthorizerBundle');
  const bundle = lastJsonLine((await runChild(process.execPath, [join(BUILD, 'authorizer-build.mjs'), dir])).stdout);
  const fixture = join(dir, 'fixture.json');
  let warm;
  if (moto) {
    log(`authorizer: warm decisions (${CFG.hitDecisions} hits, ${CFG.missDecisions} misses against moto)`);
    warm = lastJsonLine((await runChild(process.execPath, [join(BUILD, 'workloads.mjs'), 'authorizer', fixture], { env: { ...awsEnv(moto.endpoint), BENCH_MISS_N: String(CFG.missDecisions) } })).stdout);
  } else {
    // the fixture (items and event) comes with the warm workload; without moto it is made on its own
    await runChild(process.execPath, [join(BUILD, 'workloads.mjs'), 'authorizer-fixture', fixture]);
  }

  // Cold starts: each round runs, back to back, `node -e 0`, the harness with a handler that does nothing
  // (its own floor), the authorizer against a plain-HTTP registry and against the same registry over HTTPS, as
  // DynamoDB answers in AWS (TLS and one handshake on top), three ways: as deployed (the environment
  // `ca authorizer build` asks for, the registry's roots given as `ca`: the bench's self-signed certificate
  // stands in for the five Amazon roots through CA_REGISTRY_TLS_ROOTS, the same code path); the same `ca`
  // without that environment (Node then parses its bundled root store on the first TLS context anyway); and
  // Node's default store with the server trusted through NODE_EXTRA_CA_CERTS (how this row ran before).
  // Interleaving puts them all under the same machine load.
  log(`authorizer: cold starts (${CFG.coldRuns} rounds of node -e 0, empty handler, HTTP registry, HTTPS registry three ways)`);
  const items = JSON.parse(readFileSync(fixture, 'utf8')).items;
  const key = join(dir, 'registry-key.pem');
  const cert = join(dir, 'registry-cert.pem');
  out('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert]);
  const reg = await fakeRegistry(items);
  const tlsReg = await fakeRegistry(items, { key: readFileSync(key), cert: readFileSync(cert) });
  const regEnv = (endpoint) => ({ ...awsEnv(endpoint, startupEnv), CA_TABLE: 'bench-registry', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' });
  const env = regEnv(reg.endpoint);
  const tlsEnv = { ...regEnv(tlsReg.endpoint), ...bundle.environment, CA_REGISTRY_TLS_ROOTS: cert };
  const caOnlyEnv = { ...regEnv(tlsReg.endpoint), CA_REGISTRY_TLS_ROOTS: cert };
  const systemEnv = { ...regEnv(tlsReg.endpoint), CA_REGISTRY_TLS_ROOTS: 'system', NODE_EXTRA_CA_CERTS: cert };
  const empty = join(dir, 'empty-handler.mjs');
  writeFileSync(empty, 'export const handler = async () => ({ isAuthorized: true });\n');
  const child = (handlerFile, e) => runChild(process.execPath, [join(root, 'bench', 'cold-start-child.mjs'), handlerFile, fixture], { env: e });
  // The registry transport alone, in a cold process: two POSTs over one HTTPS connection with our HTTP/1.1 client
  // (node:tls) against the same with node:https, the measured reason for src/adapters/aws/http1-client.ts. Its
  // own stand-in, so the GetItem count above stays the authorizer's.
  const trReg = await fakeRegistry(items, { key: readFileSync(key), cert: readFileSync(cert) });
  const transport = (which) => runChild(process.execPath, [join(BUILD, `transport-${which}.mjs`), trReg.endpoint, cert], { env: { ...startupEnv, ...bundle.environment } });
  // The first log line of a cold process through process.stdout against one fs.writeSync(1), the measured reason for
  // src/lambda/stdout-line.ts: in-process time of the write itself, standard output a pipe as here and in Lambda.
  // the same bundle with ES module imports of the built-ins, as deployed otherwise (the reason for the plugin)
  const esmBuiltins = join(dir, 'esm-builtins', 'index.mjs');
  out(process.execPath, ['--input-type=module', '-e', ESM_BUILTINS_BUNDLE, root, esmBuiltins]);
  const firstLine = async (how) => lastJsonLine((await runChild(process.execPath, [join(root, 'bench', 'first-line.mjs'), how], { env: startupEnv })).stderr).ms;
  const [bare, floor, cold, coldTls, inner, innerTls, coldCaOnly, coldSystem, trOwn, trNode, flStream, flFd, coldEsm, innerEsm] = [[], [], [], [], [], [], [], [], [], [], [], [], [], []];
  try {
    await transport('own');
    await transport('node');
    await child(join(dir, 'index.mjs'), env); // disk cache
    await child(join(dir, 'index.mjs'), tlsEnv);
    await child(join(dir, 'index.mjs'), caOnlyEnv);
    await child(join(dir, 'index.mjs'), systemEnv);
    await child(esmBuiltins, tlsEnv);
    for (let i = 0; i < CFG.coldRuns; i++) {
      bare.push((await runChild(process.execPath, ['-e', '0'], { env: startupEnv })).wall);
      floor.push((await child(empty, env)).wall);
      const r = await child(join(dir, 'index.mjs'), env);
      cold.push(r.wall);
      inner.push(lastJsonLine(r.stdout));
      const t = await child(join(dir, 'index.mjs'), tlsEnv);
      coldTls.push(t.wall);
      innerTls.push(lastJsonLine(t.stdout));
      const eb = await child(esmBuiltins, tlsEnv);
      coldEsm.push(eb.wall);
      innerEsm.push(lastJsonLine(eb.stdout));
      coldCaOnly.push((await child(join(dir, 'index.mjs'), caOnlyEnv)).wall);
      coldSystem.push((await child(join(dir, 'index.mjs'), systemEnv)).wall);
      trOwn.push((await transport('own')).wall);
      trNode.push((await transport('node')).wall);
      flStream.push(await firstLine('stream'));
      flFd.push(await firstLine('fd'));
    }
  } finally {
    await reg.close();
    await tlsReg.close();
    await trReg.close();
  }
  const gets = reg.count();
  return {
    bundle: { bytes: bundle.bundleBytes, zipBytes: bundle.zipBytes, indexMjsBytes: statSync(join(dir, 'index.mjs')).size },
    cold: {
      runs: CFG.coldRuns,
      medianMs: median(cold),
      bareNodeMedianMs: median(bare),
      deltaMs: median(cold) - median(bare),
      startMedianMs: median(inner.map((x) => x.startMs)),
      importMedianMs: median(inner.map((x) => x.importMs)),
      firstInvokeMedianMs: median(inner.map((x) => x.invokeMs)),
      getItemsPerColdStart: gets / (CFG.coldRuns + 1),
      emptyHandlerMedianMs: median(floor),
      samples: { cold, bare, floor },
    },
    coldHttps: {
      runs: CFG.coldRuns,
      medianMs: median(coldTls),
      bareNodeMedianMs: median(bare),
      deltaMs: median(coldTls) - median(bare),
      // time from process start to the harness's import
      startMedianMs: median(innerTls.map((x) => x.startMs)),
      importMedianMs: median(innerTls.map((x) => x.importMs)),
      firstInvokeMedianMs: median(innerTls.map((x) => x.invokeMs)),
      getItemsPerColdStart: tlsReg.count() / (3 * (CFG.coldRuns + 1)),
      environment: bundle.environment,
      samples: { cold: coldTls },
    },
    coldHttpsEsmBuiltins: { runs: CFG.coldRuns, medianMs: median(coldEsm), deltaMs: median(coldEsm) - median(bare), importMedianMs: median(innerEsm.map((x) => x.importMs)), samples: { cold: coldEsm } },
    coldHttpsCaOnly: { runs: CFG.coldRuns, medianMs: median(coldCaOnly), deltaMs: median(coldCaOnly) - median(bare), samples: { cold: coldCaOnly } },
    coldHttpsSystemStore: { runs: CFG.coldRuns, medianMs: median(coldSystem), deltaMs: median(coldSystem) - median(bare), samples: { cold: coldSystem } },
    firstLogLine: { runs: CFG.coldRuns, streamMedianMs: median(flStream), fdMedianMs: median(flFd), samples: { stream: flStream, fd: flFd } },
    transport: { runs: CFG.coldRuns, ownMedianMs: median(trOwn), nodeHttpsMedianMs: median(trNode), ownDeltaMs: median(trOwn) - median(bare), nodeHttpsDeltaMs: median(trNode) - median(bare), samples: { own: trOwn, nodeHttps: trNode } },
    warm,
  };
}

// ---------------------------------------------------------------- token authorizer

/**
 * The authorizer in mtls+token mode beside mtls mode, in one run: warm cache-hit decisions (in-process,
 * interleaved blocks) and cold starts of the same bundle, each round running `node -e 0`, the bundle in mtls
 * mode and in mtls+token mode against one HTTPS registry stand-in that also serves the TOKEN#JWKS item.
 */
async function tokenAuthorizer() {
  const dir = join(BUILD, 'token-authorizer');
  mkdirSync(dir, { recursive: true });
  log('token: bundling with buildAuthorizerBundle');
  const bundle = lastJsonLine((await runChild(process.execPath, [join(BUILD, 'authorizer-build.mjs'), dir])).stdout);
  const fixture = join(dir, 'fixture.json');
  log('token: warm decisions, mtls+token beside mtls (cache hit, 20,000 each)');
  const warm = lastJsonLine((await runChild(process.execPath, [join(BUILD, 'workloads.mjs'), 'token-authorizer', fixture])).stdout);
  const items = JSON.parse(readFileSync(fixture, 'utf8')).items;
  const key = join(dir, 'registry-key.pem');
  const cert = join(dir, 'registry-cert.pem');
  out('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert]);
  const reg = await fakeRegistry(items, { key: readFileSync(key), cert: readFileSync(cert) });
  // as deployed, as the authorizer section's target row: the environment `ca authorizer build` asks for, the
  // bench's self-signed registry certificate standing in for the Amazon roots (CA_REGISTRY_TLS_ROOTS)
  const base = { ...awsEnv(reg.endpoint, startupEnv), CA_TABLE: 'bench-registry', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', ...bundle.environment, CA_REGISTRY_TLS_ROOTS: cert };
  const tokenEnv = { ...base, CA_AUTHORIZER_MODE: 'mtls+token', CA_TOKEN_ISSUER: 'https://auth.bench.test', CA_TOKEN_AUDIENCE: 'https://api.bench.test', CA_ROUTE_SCOPES: '{"GET /orders":["orders:read"]}' };
  const child = (e) => runChild(process.execPath, [join(root, 'bench', 'cold-start-child.mjs'), join(dir, 'index.mjs'), fixture], { env: e });
  log(`token: cold starts (${CFG.coldRuns} rounds of node -e 0, mtls mode, mtls+token mode; registry over HTTPS)`);
  const [bare, mtls, token, mtlsIn, tokenIn, mtlsRequests, tokenRequests] = [[], [], [], [], [], [], []];
  // registry requests of one cold start (mtls+token: the key set and the client record share one BatchGetItem)
  const counted = async (e, into) => {
    const before = reg.requests();
    const r = await child(e);
    into.push(reg.requests() - before);
    return r;
  };
  try {
    await child(base);
    await child(tokenEnv);
    for (let i = 0; i < CFG.coldRuns; i++) {
      bare.push((await runChild(process.execPath, ['-e', '0'], { env: startupEnv })).wall);
      const m = await counted(base, mtlsRequests);
      mtls.push(m.wall);
      mtlsIn.push(lastJsonLine(m.stdout));
      const t = await counted(tokenEnv, tokenRequests);
      token.push(t.wall);
      tokenIn.push(lastJsonLine(t.stdout));
    }
  } finally {
    await reg.close();
  }
  const metafile = lastJsonLine(out(process.execPath, ['--input-type=module', '-e', BUNDLE_PACKAGES, root]));
  return {
    bundle: { bytes: bundle.bundleBytes, zipBytes: bundle.zipBytes, ...metafile },
    warm,
    cold: {
      runs: CFG.coldRuns,
      bareNodeMedianMs: median(bare),
      mtlsMedianMs: median(mtls),
      tokenMedianMs: median(token),
      mtlsDeltaMs: median(mtls) - median(bare),
      tokenDeltaMs: median(token) - median(bare),
      mtlsImportMedianMs: median(mtlsIn.map((x) => x.importMs)),
      tokenImportMedianMs: median(tokenIn.map((x) => x.importMs)),
      mtlsInvokeMedianMs: median(mtlsIn.map((x) => x.invokeMs)),
      mtlsRequestsPerColdStart: median(mtlsRequests),
      tokenRequestsPerColdStart: median(tokenRequests),
      tokenInvokeMedianMs: median(tokenIn.map((x) => x.invokeMs)),
      samples: { bare, mtls, token },
    },
  };
}

/**
 * The authorizer bundle with ES module imports of Node's built-ins instead of process.getBuiltinModule, the one
 * difference (src/lambda/esbuild-options.mjs): the comparison behind that choice. argv: <root> <outfile>.
 */
const ESM_BUILTINS_BUNDLE = `
const [root, outfile] = process.argv.slice(1);
const { build } = await import(root + '/node_modules/esbuild/lib/main.js');
const { authorizerBuildOptions } = await import(root + '/src/lambda/esbuild-options.mjs');
await build({ ...authorizerBuildOptions(root, { esmBuiltins: true }), outfile });
`;

/** Bytes of the bundle per package, from esbuild's metafile (run in a child: see buildScratch on esbuild here). */
const BUNDLE_PACKAGES = `
const root = process.argv[1];
const { build } = await import(root + '/node_modules/esbuild/lib/main.js');
const { authorizerBuildOptions } = await import(root + '/src/lambda/esbuild-options.mjs');
const r = await build({ ...authorizerBuildOptions(root), write: false, metafile: true });
const by = {};
for (const o of Object.values(r.metafile.outputs)) for (const [f, i] of Object.entries(o.inputs)) {
  const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(f);
  by[m ? m[1] : 'own'] = (by[m ? m[1] : 'own'] ?? 0) + i.bytesInOutput;
}
console.log(JSON.stringify({ joseBytes: by.jose ?? 0, ownBytes: by.own ?? 0 }));
`;

function tokenRows(t, row) {
  const w = t.warm;
  row('token', 'warm cache hit p99: mtls+token vs mtls (log serialised)', fmt(w.mtlsToken.p99 * 1000, ' us'), fmt(w.mtls.p99 * 1000, ' us'), fmt(w.p99Ratio, 'x'), '<= 100 us', w.mtlsToken.p99 < 0.1 ? 'yes' : 'NO');
  row('token', 'warm cache hit p50: mtls+token vs mtls', fmt(w.mtlsToken.p50 * 1000, ' us'), fmt(w.mtls.p50 * 1000, ' us'), fmt(ratio(w.mtlsToken.p50, w.mtls.p50), 'x'), '', '');
  const c = t.cold;
  row('token', 'cold start, mtls+token mode, registry over HTTPS, as deployed, vs node -e 0', fmt(c.tokenMedianMs, ' ms'), fmt(c.bareNodeMedianMs, ' ms'), `+${fmt(c.tokenDeltaMs, ' ms')}`, '<= +40 ms', c.tokenDeltaMs <= 40 ? 'yes' : 'NO');
  row('token', 'cold start, mtls mode (same bundle, same run, as deployed), vs node -e 0', fmt(c.mtlsMedianMs, ' ms'), fmt(c.bareNodeMedianMs, ' ms'), `+${fmt(c.mtlsDeltaMs, ' ms')}`, '<= +40 ms', c.mtlsDeltaMs <= 40 ? 'yes' : 'NO');
  row('token', 'cold: mtls+token vs mtls', fmt(c.tokenMedianMs, ' ms'), fmt(c.mtlsMedianMs, ' ms'), `${c.tokenMedianMs >= c.mtlsMedianMs ? '+' : ''}${fmt(c.tokenMedianMs - c.mtlsMedianMs, ' ms')}`, '', '');
  if (c.tokenRequestsPerColdStart !== undefined) row('token', 'cold: registry requests per cold start, mtls+token vs mtls', String(c.tokenRequestsPerColdStart), String(c.mtlsRequestsPerColdStart), '', '', '');
  row('token', 'cold import / first invocation: mtls+token vs mtls', `${fmt(c.tokenImportMedianMs)}/${fmt(c.tokenInvokeMedianMs)} ms`, `${fmt(c.mtlsImportMedianMs)}/${fmt(c.mtlsInvokeMedianMs)} ms`, '', '', '');
  row('token', 'bundle index.mjs / zip (with jose)', `${fmt(t.bundle.bytes)} / ${fmt(t.bundle.zipBytes)} B`, '', '', '', '');
  row('token', 'bundle: jose vs own code', fmt(t.bundle.joseBytes, ' B'), fmt(t.bundle.ownBytes, ' B'), fmt(ratio(t.bundle.joseBytes, t.bundle.ownBytes), 'x'), '', '');
}

// ---------------------------------------------------------------- CLI start-up

function cliStartup() {
  log(`cli: ${CFG.cliRuns} runs each of node -e 0, ca --version, ca --help (alternating, without NODE_EXTRA_CA_CERTS)`);
  const bin = join(root, 'bin', 'ca.cjs');
  const cases = { bare: ['-e', '0'], version: [bin, '--version'], help: [bin, '--help'] };
  const t = { bare: [], version: [], help: [] };
  // stdout is a pipe, as when a script or CI captures the output
  const opts = { stdio: ['ignore', 'pipe', 'pipe'], env: startupEnv };
  for (const args of Object.values(cases)) spawnSync(process.execPath, args, opts); // disk cache
  for (let i = 0; i < CFG.cliRuns; i++) {
    for (const [k, args] of Object.entries(cases)) {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, args, opts);
      t[k].push(ms(t0));
      // (dist/ is rebuilt by `npm test` and `npm run build`: do not run those at the same time)
      if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${String(r.stderr).trim().split('\n').slice(-3).join(' | ')}`);
    }
  }
  return { runs: CFG.cliRuns, bareMs: median(t.bare), versionMs: median(t.version), helpMs: median(t.help), samples: t };
}

// ---------------------------------------------------------------- rotation

/** CPU seconds used by this process's waited-for children so far (Linux: /proc/self/stat), or undefined. */
function childCpuSeconds(hz) {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // after the command's ')' the fields start at the 3rd (state): cutime and cstime are the 16th and 17th
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[16 - 3]) / hz, sys: Number(f[17 - 3]) / hz };
  } catch {
    return undefined;
  }
}

/** Above this many ms per 1,000 new inodes, the probe shows the slow state described in rotationLocal. */
const FS_SLOW_MS = 100;

/**
 * Probes the file system under `dir` the way the CLI rows use it: 2,000 new directories with one empty file each
 * (4,000 inodes; a smaller probe can find the few inodes not freed lately and look quiet), kept until the
 * section's directory is removed, so the probe itself deletes nothing; the time per 1,000 inodes. While it shows
 * the slow state a recent mass deletion leaves (see rotationLocal), waits and probes again every 20 s, at most
 * CFG.fsSettleS. The CLI rows then measure the CLI, not what other programs deleted minutes before; the table shows
 * the last probe and how long it waited.
 */
async function settleFs(dir, section) {
  const probe = () => {
    const d = mkdtempSync(join(dir, 'create-probe-'));
    const p0 = process.hrtime.bigint();
    for (let i = 0; i < 2000; i++) {
      mkdirSync(join(d, String(i)));
      closeSync(openSync(join(d, String(i), 'f'), 'wx'));
    }
    return ms(p0) / 4;
  };
  const firstMs = probe();
  let lastMs = firstMs;
  const t0 = Date.now();
  while (lastMs > FS_SLOW_MS && Date.now() - t0 + 20_000 <= CFG.fsSettleS * 1000) {
    log(`${section}: new inodes took ${fmt(lastMs, ' ms')} per 1,000 (quiet: 15-40 ms), a file system still slowed by a recent mass deletion; probing again in 20 s (waited ${Math.round((Date.now() - t0) / 1000)} s of at most ${CFG.fsSettleS} s)`);
    await new Promise((r) => setTimeout(r, 20_000));
    lastMs = probe();
  }
  return { firstMs, lastMs, waitedS: (Date.now() - t0) / 1000, settled: lastMs <= FS_SLOW_MS };
}

async function rotationLocal() {
  const n = CFG.localClients;
  const tmp = mkdtempSync(join(tmpdir(), 'ca-bench-rotate-'));
  try {
    log(`rotation (local): seeding ${n} clients, rotating in-process`);
    const inproc = lastJsonLine((await runChild(process.execPath, [join(BUILD, 'workloads.mjs'), 'rotation-local', String(n), join(tmp, 'pki'), join(tmp, 'pki-cli')])).stdout);
    // ext4 without a journal (as here) skips inodes freed in the last minutes when it allocates one, scanning
    // past each from the start every time: after a mass deletion nearby (a previous run's 20,000 bundle files, a
    // test suite's temporary files) file creations cost up to ~1 ms of kernel time each for minutes, where they
    // normally cost 35-70 us. The CLI's kernel time below shows it; so, roughly, does this probe.
    const fs = await settleFs(tmp, 'rotation (local)');
    const createMsPer1000 = fs.lastMs;
    log('rotation (local): the real CLI, ca rotate-intermediate');
    let hz = 100;
    try {
      hz = Number(out('getconf', ['CLK_TCK'])) || 100;
    } catch {}
    const cpu0 = childCpuSeconds(hz);
    const cli = await runChild(process.execPath, [join(root, 'bin', 'ca.cjs'), 'rotate-intermediate', '--dir', join(tmp, 'pki-cli'), '--out', join(tmp, 'bundles'), '--json', '--yes'], {
      env: { ...process.env, CA_PASSPHRASE: 'bench-passphrase-123', CA_STORE: 'local' },
      cwd: tmp,
    });
    let reissued;
    try {
      reissued = JSON.parse(cli.stdout).reissued?.length;
    } catch {}
    const cpu1 = childCpuSeconds(hz);
    const cpu = cpu0 && cpu1 ? { userS: cpu1.user - cpu0.user, sysS: cpu1.sys - cpu0.sys } : undefined;
    return { ...inproc, cli: { wallMs: cli.wall, certsPerSec: n / (cli.wall / 1000), reissued, cpu, createMsPer1000, fs } };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function rotationMoto(moto) {
  const n = CFG.motoClients;
  log(`rotation (moto): seeding ${n} clients, rotating in-process on the AWS store`);
  return lastJsonLine((await runChild(process.execPath, [join(BUILD, 'workloads.mjs'), 'rotation-aws', String(n)], { env: awsEnv(moto.endpoint) })).stdout);
}

// ---------------------------------------------------------------- provisioning (--from)

/**
 * The real CLI, `ca issue-client --from` with N new clients (keys generated, 3 bundle files each) on a local store
 * that has a CA and no client: wall time, CPU split, and the same file-creation probe as the rotation's CLI row.
 * Runs before the rotation; its directory is removed only after the rotation (see `main`), so neither CLI run
 * follows a mass deletion made by this bench (see rotationLocal on ext4's recently deleted inodes).
 */
async function provisionLocal() {
  const n = CFG.localClients;
  const tmp = mkdtempSync(join(tmpdir(), 'ca-bench-from-'));
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  try {
    log(`provisioning (local): a CA without clients and a file of ${n} new clients`);
    await runChild(process.execPath, [join(BUILD, 'workloads.mjs'), 'provision-local', String(n), tmp]);
    const fs = await settleFs(tmp, 'provisioning (local)');
    const createMsPer1000 = fs.lastMs;
    log('provisioning (local): the real CLI, ca issue-client --from');
    let hz = 100;
    try {
      hz = Number(out('getconf', ['CLK_TCK'])) || 100;
    } catch {}
    const cpu0 = childCpuSeconds(hz);
    const cli = await runChild(process.execPath, [join(root, 'bin', 'ca.cjs'), 'issue-client', '--from', join(tmp, 'clients.json'), '--dir', join(tmp, 'pki'), '--out', join(tmp, 'bundles'), '--json'], {
      env: { ...process.env, CA_PASSPHRASE: 'bench-passphrase-123', CA_STORE: 'local' },
      cwd: tmp,
    });
    const cpu1 = childCpuSeconds(hz);
    let issued;
    try {
      issued = JSON.parse(cli.stdout).issued?.length;
    } catch {}
    if (issued !== undefined && issued !== n) throw new Error(`ca issue-client --from issued ${issued} of ${n}`);
    const cpu = cpu0 && cpu1 ? { userS: cpu1.user - cpu0.user, sysS: cpu1.sys - cpu0.sys } : undefined;
    return { result: { clients: n, cli: { wallMs: cli.wall, certsPerSec: n / (cli.wall / 1000), issued, cpu, createMsPer1000, fs } }, cleanup };
  } catch (e) {
    cleanup();
    throw e;
  }
}

async function provisionMoto(moto) {
  const n = CFG.motoClients;
  log(`provisioning (moto): ${n} new clients in-process on the AWS store`);
  return lastJsonLine((await runChild(process.execPath, [join(BUILD, 'workloads.mjs'), 'provision-aws', String(n)], { env: awsEnv(moto.endpoint) })).stdout);
}

// ---------------------------------------------------------------- tokens

/**
 * The token endpoint with a local key, one thread: whole POST /token requests and jose's SignJWT alone, then PyJWT
 * signing the same claims (ES256) in the same run; best of three runs each.
 */
async function tokens() {
  const dir = mkdtempSync(join(tmpdir(), 'ca-bench-tok-'));
  try {
    const claims = join(dir, 'claims.json');
    const ours = [];
    const py = [];
    for (let k = 0; k < 3; k++) {
      log(`tokens: endpoint and jose run ${k + 1}`);
      ours.push(lastJsonLine((await runChild(process.execPath, [join(BUILD, 'workloads.mjs'), 'token-local', String(CFG.tokenSeconds), claims])).stdout));
      log(`tokens: PyJWT run ${k + 1}`);
      py.push(lastJsonLine((await runChild(PY, [join(root, 'bench', 'token_sign.py'), claims, String(CFG.tokenSeconds)])).stdout));
    }
    const best = (xs, f) => Math.max(...xs.map(f));
    return { endpointPerSec: best(ours, (x) => x.endpointPerSec), joseSignPerSec: best(ours, (x) => x.joseSignPerSec), pyjwtPerSec: best(py, (x) => x.perSec), pyjwt: py[0].pyjwt, tokenBytes: ours[0].tokenBytes, runs: { ours, py } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function tokenEndpointRows(t, row) {
  row('tokens', 'POST /token, local key, one thread, tokens/s vs PyJWT signing the same claims', fmt(t.endpointPerSec), fmt(t.pyjwtPerSec), fmt(ratio(t.endpointPerSec, t.pyjwtPerSec), 'x'), '', '');
  row('tokens', 'jose SignJWT alone (ES256, same claims), tokens/s vs PyJWT', fmt(t.joseSignPerSec), fmt(t.pyjwtPerSec), fmt(ratio(t.joseSignPerSec, t.pyjwtPerSec), 'x'), '', '');
}

// ---------------------------------------------------------------- report

const fmt = (v, unit = '') => {
  if (v === undefined || v === null || Number.isNaN(v)) return '-';
  if (typeof v === 'string') return v;
  const a = Math.abs(v);
  const s = a >= 1000 ? Math.round(v).toLocaleString('en-US') : a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
  return s + unit;
};
const ratio = (a, b) => (a && b ? a / b : undefined);
/** The settle wait of a CLI row's file system probe, for the table: empty when it did not wait. */
const fsWait = (f) => (f && f.waitedS >= 1 ? `waited ${Math.round(f.waitedS)} s, first ${fmt(f.firstMs, ' ms')}${f.settled ? '' : ', not settled'}` : '');

/** Rows of `ca issue-client --from`, each part beside the rotation's (`part`: local or moto). */
function provisionRows(p, row, part) {
  const l = p.local;
  if (part === 'local' && l) {
    row('provision', `local, real CLI --from, ${fmt(l.clients)} new clients (incl. ${fmt(l.clients * 3)} bundle files)`, fmt(l.cli.wallMs / 1000, ' s'), '', '', l.clients >= 10_000 ? '< 5 s' : '(10k: < 5 s)', l.clients >= 10_000 ? (l.cli.wallMs < 5000 ? 'yes' : 'NO') : '');
    row('provision', 'local, real CLI --from certs/s', fmt(l.cli.certsPerSec), '', '', '', '');
    if (l.cli.cpu) row('provision', 'local, real CLI --from CPU user / kernel', `${fmt(l.cli.cpu.userS, '')} / ${fmt(l.cli.cpu.sysS, ' s')}`, '', '', '', '');
    row('provision', 'file system: ms per 1,000 new inodes just before (quiet: 15-40 ms)', fmt(l.cli.createMsPer1000, ' ms'), fsWait(l.cli.fs), '', '', '');
  }
  if (part === 'moto' && p.moto) {
    const m = p.moto;
    const tw = m.requests.TransactWriteItems ?? 0;
    // each new client is 2 of a transaction's 100 actions, and every transaction carries its audit event (2 more)
    const min = Math.ceil(m.clients / 49);
    row('provision', `moto, --from ${fmt(m.clients)} new clients, wall`, fmt(m.wallMs / 1000, ' s'), '', '', '', '');
    row('provision', 'moto, TransactWriteItems vs min ceil(N/49) (audit event in each)', fmt(tw), fmt(min), fmt(tw / min, 'x'), '= 1x', tw === min ? 'yes' : 'NO');
    row('provision', 'moto, measured = planned (planCommit)', fmt(tw), fmt(m.registry.plannedTransactWriteItems), '', '', tw === m.registry.plannedTransactWriteItems ? 'yes' : 'NO');
    row('provision', 'moto, all DynamoDB requests', fmt(m.totalRequests), '', '', '', '');
    row('provision', 'moto, by operation', Object.entries(m.requests).map(([k, v]) => `${k} ${v}`).join(', '), '', '', '', '');
  }
}

function rows(r) {
  const R = [];
  const row = (section, metric, ours, peer, ratioV, target, met) => R.push({ section, metric, ours, peer, ratio: ratioV, target, met });
  if (r.tokens) tokenEndpointRows(r.tokens, row);
  const i = r.issuance ?? { node: {}, python: {}, openssl: {} };
  const names = { a: '(a) generated key + PEM/PKCS#8', b: '(b) CSR signing (key given)', c: '(c) re-issue, new intermediate' };
  // The target is for batch work on every core (rotation, --from, renew --all), against Python's one core, as
  // the issue states it; the one-thread rows stand beside it so nothing is hidden.
  for (const k of r.issuance ? ['a', 'b', 'c'] : []) {
    const batch = i.node[`${k}Parallel`];
    const rb = ratio(batch, i.python[k]);
    if (batch !== undefined) {
      row('issuance', `${names[k]} batch, ${i.node.threads} threads, certs/s vs python`, fmt(batch), fmt(i.python[k]), fmt(rb, 'x'), k === 'a' ? '>= 1.5x' : '', k === 'a' ? (rb >= 1.5 ? 'yes' : 'NO') : '');
    }
    row('issuance', `${names[k]} one thread, certs/s vs python`, fmt(i.node[k]), fmt(i.python[k]), fmt(ratio(i.node[k], i.python[k]), 'x'), '', '');
    row('issuance', `${names[k]} one thread, certs/s vs openssl CLI`, fmt(i.node[k]), fmt(i.openssl[k]), fmt(ratio(i.node[k], i.openssl[k]), 'x'), '', '');
  }
  if (r.authorizer?.warm) {
    const a = r.authorizer;
    const w = a.warm;
    row('authorizer', 'cache hit p50 (log serialised)', fmt(w.hit.p50 * 1000, ' us'), '', '', '', '');
    row('authorizer', 'cache hit p99 (log serialised)', fmt(w.hit.p99 * 1000, ' us'), '', '', '< 100 us', w.hit.p99 < 0.1 ? 'yes' : 'NO');
    row('authorizer', 'cache hit p50/p99 (log discarded)', `${fmt(w.hitNoLog.p50 * 1000)}/${fmt(w.hitNoLog.p99 * 1000)} us`, '', '', '', '');
    row('authorizer', 'registry miss p50 vs moto GetItem', fmt(w.miss.p50, ' ms'), fmt(w.motoGetItem.p50, ' ms'), fmt(ratio(w.miss.p50, w.motoGetItem.p50), 'x'), '', '');
    row('authorizer', 'registry miss p99 vs moto GetItem', fmt(w.miss.p99, ' ms'), fmt(w.motoGetItem.p99, ' ms'), fmt(ratio(w.miss.p99, w.motoGetItem.p99), 'x'), '', '');
    row('authorizer', 'miss overhead over GetItem p50/p99', `${fmt(w.overhead.p50, '')}/${fmt(w.overhead.p99, '')} ms`, '', '', '', '');
    row('authorizer', 'GetItem requests per miss', fmt(w.getItemPerMiss), '1', '', '= 1', Math.abs(w.getItemPerMiss - 1) < 1e-9 ? 'yes' : 'NO');
  }
  if (r.authorizer) {
    const a = r.authorizer;
    // The target row: DynamoDB answers over HTTPS in AWS, so that is the cold start a caller waits for.
    const h = a.coldHttps;
    row('authorizer', 'cold start (import + 1st call), registry over HTTPS, as deployed, vs node -e 0', fmt(h.medianMs, ' ms'), fmt(h.bareNodeMedianMs, ' ms'), `+${fmt(h.deltaMs, ' ms')}`, '<= +40 ms', h.deltaMs <= 40 ? 'yes' : 'NO');
    row('authorizer', 'cold, HTTPS: start-up / import / first invocation (in child)', `${fmt(h.startMedianMs)}/${fmt(h.importMedianMs)}/${fmt(h.firstInvokeMedianMs)} ms`, '', '', '', '');
    const eb = a.coldHttpsEsmBuiltins;
    if (eb) {
      const sign = (d) => `${d >= 0 ? '+' : ''}${fmt(d, ' ms')}`;
      row('authorizer', 'cold, HTTPS, as deployed: built-ins through process.getBuiltinModule vs ES module imports', fmt(h.medianMs, ' ms'), fmt(eb.medianMs, ' ms'), sign(h.medianMs - eb.medianMs), '', '');
      row('authorizer', '  the same, import alone (in child)', fmt(h.importMedianMs, ' ms'), fmt(eb.importMedianMs, ' ms'), sign(h.importMedianMs - eb.importMedianMs), '', '');
    }
    const co = a.coldHttpsCaOnly;
    row('authorizer', 'cold, HTTPS, same `ca` without NODE_OPTIONS/SSL_CERT_FILE', fmt(co.medianMs, ' ms'), fmt(h.bareNodeMedianMs, ' ms'), `+${fmt(co.deltaMs, ' ms')}`, '', '');
    const sy = a.coldHttpsSystemStore;
    row('authorizer', "cold, HTTPS, Node's default store + NODE_EXTRA_CA_CERTS", fmt(sy.medianMs, ' ms'), fmt(h.bareNodeMedianMs, ' ms'), `+${fmt(sy.deltaMs, ' ms')}`, '', '');
    row('authorizer', 'cold start, registry over plain HTTP, vs node -e 0', fmt(a.cold.medianMs, ' ms'), fmt(a.cold.bareNodeMedianMs, ' ms'), `+${fmt(a.cold.deltaMs, ' ms')}`, '', '');
    row('authorizer', 'cold, HTTP: start-up / import / first invocation (in child)', `${fmt(a.cold.startMedianMs)}/${fmt(a.cold.importMedianMs)}/${fmt(a.cold.firstInvokeMedianMs)} ms`, '', '', '', '');
    if (a.transport) {
      const t = a.transport;
      row('authorizer', 'registry transport alone, cold, 2 POSTs over HTTPS: own (node:tls) vs node:https, over node -e 0', `+${fmt(t.ownDeltaMs, ' ms')}`, `+${fmt(t.nodeHttpsDeltaMs, ' ms')}`, fmt(ratio(t.ownDeltaMs, t.nodeHttpsDeltaMs), 'x'), '', '');
    }
    const fl = a.firstLogLine;
    if (fl) row('authorizer', 'first log line in a cold process (stdout a pipe): fs.writeSync(1) vs process.stdout', fmt(fl.fdMedianMs, ' ms'), fmt(fl.streamMedianMs, ' ms'), fmt(ratio(fl.fdMedianMs, fl.streamMedianMs), 'x'), '', '');
    row('authorizer', 'cold: harness floor (empty handler) vs node -e 0', fmt(a.cold.emptyHandlerMedianMs, ' ms'), fmt(a.cold.bareNodeMedianMs, ' ms'), `+${fmt(a.cold.emptyHandlerMedianMs - a.cold.bareNodeMedianMs, ' ms')}`, '', '');
    row('authorizer', 'bundle index.mjs / zip', `${fmt(a.bundle.bytes)} / ${fmt(a.bundle.zipBytes)} B`, '', '', '', '');
  }
  if (r.token) tokenRows(r.token, row);
  const c = r.cli;
  if (c) row('cli', 'ca --version vs node -e 0', fmt(c.versionMs, ' ms'), fmt(c.bareMs, ' ms'), fmt(ratio(c.versionMs, c.bareMs), 'x'), '<= 1.3x', c.versionMs / c.bareMs <= 1.3 ? 'yes' : 'NO');
  if (c) row('cli', 'ca --help vs node -e 0', fmt(c.helpMs, ' ms'), fmt(c.bareMs, ' ms'), fmt(ratio(c.helpMs, c.bareMs), 'x'), '<= 1.3x', c.helpMs / c.bareMs <= 1.3 ? 'yes' : 'NO');
  const l = r.rotation?.local;
  if (l) {
  row('rotation', `local, ${fmt(l.clients)} clients, in-process wall`, fmt(l.wallMs / 1000, ' s'), '', '', l.clients >= 10_000 ? '< 5 s' : '(10k: < 5 s)', l.clients >= 10_000 ? (l.wallMs < 5000 ? 'yes' : 'NO') : '');
  row('rotation', `local, in-process certs/s`, fmt(l.certsPerSec), '', '', '', '');
  row('rotation', `local, registry commits: n / time`, `${l.registry.commits} / ${fmt(l.registry.commitMs / 1000, ' s')}`, '', '', '', '');
  // 3 actions a client, 2 of every transaction's 100 the audit event: 32 clients a transaction, plus the CA's own
  const lmin = Math.ceil(l.clients / 32) + 1;
  const lp = l.registry.plannedTransactWriteItems;
  row('rotation', `${fmt(l.clients)} clients: DynamoDB TransactWriteItems (planned) vs min`, fmt(lp), fmt(lmin), fmt(lp / lmin, 'x'), '<= 1.05x', lp / lmin <= 1.05 ? 'yes' : 'NO');
  row('rotation', `local, real CLI wall (incl. ${fmt(l.clients * 2)} bundle files)`, fmt(l.cli.wallMs / 1000, ' s'), '', '', l.clients >= 10_000 ? '< 5 s' : '', l.clients >= 10_000 ? (l.cli.wallMs < 5000 ? 'yes' : 'NO') : '');
  row('rotation', `local, real CLI certs/s`, fmt(l.cli.certsPerSec), '', '', '', '');
  if (l.cli.cpu) row('rotation', 'local, real CLI CPU user / kernel', `${fmt(l.cli.cpu.userS, '')} / ${fmt(l.cli.cpu.sysS, ' s')}`, '', '', '', '');
  row('rotation', 'file system: ms per 1,000 new inodes just before (quiet: 15-40 ms)', fmt(l.cli.createMsPer1000, ' ms'), fsWait(l.cli.fs), '', '', '');
  }
  if (r.provision) provisionRows(r.provision, row, 'local');
  if (r.rotation?.moto) {
    const m = r.rotation.moto;
    const tw = m.requests.TransactWriteItems ?? 0;
    const min = Math.ceil(m.clients / 32) + 1;
    row('rotation', `moto, ${fmt(m.clients)} clients, wall`, fmt(m.wallMs / 1000, ' s'), '', '', '', '');
    row('rotation', `moto, certs/s`, fmt(m.certsPerSec), '', '', '', '');
    row('rotation', `moto, TransactWriteItems vs min ceil(N/32)+1 (audit event in each)`, fmt(tw), fmt(min), fmt(tw / min, 'x'), '<= 1.05x', tw / min <= 1.05 ? 'yes' : 'NO');
    row('rotation', `moto, measured = planned (planCommit)`, fmt(tw), fmt(m.registry.plannedTransactWriteItems), '', '', tw === m.registry.plannedTransactWriteItems ? 'yes' : 'NO');
    row('rotation', `moto, all DynamoDB requests`, fmt(m.totalRequests), '', '', '', '');
    row('rotation', `moto, by operation`, Object.entries(m.requests).map(([k, v]) => `${k} ${v}`).join(', '), '', '', '', '');
  }
  if (r.provision) provisionRows(r.provision, row, 'moto');
  return R;
}

function table(R) {
  const cols = ['section', 'metric', 'ours', 'peer', 'ratio', 'target', 'met'];
  const w = cols.map((c) => Math.max(c.length, ...R.map((r) => String(r[c] ?? '').length)));
  const line = (vals) => vals.map((v, k) => String(v ?? '').padEnd(w[k])).join('  ').trimEnd();
  return [line(cols), line(w.map((n) => '-'.repeat(n))), ...R.map((r) => line(cols.map((c) => r[c])))].join('\n');
}

// ---------------------------------------------------------------- main

const m = machine();
log(`machine: ${m.nproc} CPUs, ${m.cpu}; node ${m.node}; ${m.openssl}; python ${m.python}, cryptography ${m.cryptography}, moto ${m.moto}; load ${m.loadStart.join(' ')}`);
if (!existsSync(join(root, 'dist', 'cli.cjs'))) throw new Error('dist/ is not built: run `npm run bench` (it builds first) or `npm run build`');
buildScratch();
const result = { date: new Date().toISOString(), config: CFG, machine: m };
if (runs('issuance')) result.issuance = await issuance();
if (runs('cli')) result.cli = cliStartup();
let moto;
if (!CFG.skipMoto && (runs('authorizer') || runs('moto'))) {
  log('starting moto');
  moto = await startMoto();
}
try {
  if (runs('tokens')) result.tokens = await tokens();
  if (runs('token')) result.token = await tokenAuthorizer();
  if ((moto && runs('authorizer')) || runs('cold')) result.authorizer = await authorizer(runs('authorizer') ? moto : undefined);
  const from = runs('provision') ? await provisionLocal() : undefined;
  try {
    if (runs('rotation')) result.rotation = { local: await rotationLocal() };
  } finally {
    from?.cleanup();
  }
  if (from) result.provision = { local: from.result };
  if (moto && runs('moto')) {
    result.rotation = { ...result.rotation, moto: await rotationMoto(moto) };
    result.provision = { ...result.provision, moto: await provisionMoto(moto) };
  }
} finally {
  await moto?.stop();
}
result.machine.loadEnd = loadavg().map((x) => +x.toFixed(2));
result.wallSeconds = (Date.now() - started) / 1000;
result.rows = rows(result);

const machineLine = `${m.nproc} CPUs (${m.cpu}), node ${m.node}, ${m.openssl}, python ${m.python} + cryptography ${m.cryptography}, moto ${m.moto}; NODE_EXTRA_CA_CERTS ${m.nodeExtraCaCerts}; load ${m.loadStart.join(' ')} -> ${result.machine.loadEnd.join(' ')}`;
const kind = `${quick ? 'quick run' : 'full run'}${CFG.only ? ` of ${CFG.only.join(', ')}` : ''}`;
process.stdout.write(`\n${machineLine}\n${kind}, ${result.wallSeconds.toFixed(1)} s\n\n${table(result.rows)}\n`);
mkdirSync(RESULTS, { recursive: true });
const file = join(RESULTS, `bench-${CFG.only ? `${CFG.only}-` : ''}${result.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
// a section run alone does not replace the full run's latest.json
if (!CFG.only) writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify(result, null, 2) + '\n');
process.stdout.write(`\nwritten: ${file.slice(root.length + 1)}${CFG.only ? '' : ', bench/results/latest.json'}\n`);
