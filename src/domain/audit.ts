import { randomBytes } from 'node:crypto';
import type { AuditDraft, AuditEvent, RegistryChange } from '../ports.js';
import { sha256Hex } from './keys.js';

/**
 * The audit trail's rules, one home for every adapter: how an event is serialised and hashed, how the chain is
 * checked, and how a command line loses its secrets.
 *
 * Canonical form (what `hash` covers): the event without its `hash` member, as JSON with the members of every
 * object sorted by name (UTF-16 code unit order, as Array.prototype.sort), no whitespace, absent members left
 * out, strings and numbers as JSON.stringify writes them. `hash` is the lowercase hex SHA-256 of its UTF-8 bytes.
 * The first event has seq 1 and prevHash GENESIS; every later one has seq + 1 and the previous event's hash.
 */

/** prevHash of the first event. */
export const GENESIS = '0'.repeat(64);

/** JSON with sorted members and no whitespace (see above). */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hash an event must carry: SHA-256 of its canonical form without `hash`. */
export function eventHash(e: Omit<AuditEvent, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...rest } = e;
  return sha256Hex(Buffer.from(canonicalJson(rest), 'utf8'));
}

/** The draft chained after `head` (undefined: the first event). */
export function sealEvent(draft: AuditDraft, head: { seq: number; hash: string } | undefined): AuditEvent {
  const unsealed = { ...draft, seq: (head?.seq ?? 0) + 1, prevHash: head?.hash ?? GENESIS };
  return { ...unsealed, hash: eventHash(unsealed) };
}

export interface ChainCheck {
  ok: boolean;
  events: number;
  /** the last good event's seq (0 when none) */
  lastGoodSeq: number;
  /** the first broken sequence number and why; absent when ok */
  firstBreak?: { seq: number; reason: string };
}

/**
 * Checks a trail in stored order: seq 1, 2, 3… with no gap, each prevHash the previous hash, each hash its
 * content's. `head` is the store's own record of the last event (the registry's snapshot, the DynamoDB head
 * item): a trail that ends before it lost its tail. Names the first broken sequence number.
 */
export function verifyChain(events: AuditEvent[], head?: { seq: number; hash: string }): ChainCheck {
  let prev: AuditEvent | undefined;
  for (const [i, e] of events.entries()) {
    const expected = i + 1;
    const fail = (seq: number, reason: string): ChainCheck => ({ ok: false, events: events.length, lastGoodSeq: prev?.seq ?? 0, firstBreak: { seq, reason } });
    if (typeof e?.seq !== 'number' || typeof e.hash !== 'string') return fail(expected, `event ${expected} is not an audit event`);
    if (e.seq !== expected) {
      return fail(expected, e.seq > expected ? `event ${expected} is missing (the next one stored is ${e.seq})` : `event ${e.seq} is out of order or repeated (expected ${expected})`);
    }
    if (e.prevHash !== (prev?.hash ?? GENESIS)) return fail(expected, `event ${expected} does not follow event ${expected - 1}: its prevHash differs from that event's hash`);
    if (eventHash(e) !== e.hash) return fail(expected, `event ${expected} was altered: its content does not match its hash`);
    prev = e;
  }
  const last = prev?.seq ?? 0;
  if (head && (head.seq > last || (head.seq === last && head.hash !== (prev?.hash ?? GENESIS)))) {
    const seq = head.seq > last ? last + 1 : last;
    return { ok: false, events: events.length, lastGoodSeq: head.seq > last ? last : last - 1, firstBreak: { seq, reason: head.seq > last ? `event ${seq} is missing: the store records ${head.seq} events, the trail holds ${last}` : `event ${seq} is not the last event the store recorded` } };
  }
  if (head && head.seq < last) {
    return { ok: false, events: events.length, lastGoodSeq: head.seq, firstBreak: { seq: head.seq + 1, reason: `event ${head.seq + 1} was added: the store records ${head.seq} events` } };
  }
  return { ok: true, events: events.length, lastGoodSeq: last };
}

/** What an event says about a commit: the serials and client ids it touches, in order, once each. */
export function affectedBy(changes: RegistryChange[]): { serials: string[]; clientIds: string[] } {
  const serials = new Set<string>();
  const clientIds = new Set<string>();
  for (const c of changes) {
    serials.add(c.record.serial);
    if (c.record.kind === 'client') clientIds.add(c.record.clientId);
  }
  return { serials: [...serials], clientIds: [...clientIds] };
}

/** A new run id: 16 hex characters, shared by every event of one command run. */
export function newRunId(): string {
  return randomBytes(8).toString('hex');
}

/** Option names whose value may be a secret, or name where one is kept: their values never reach the trail. */
const SECRET_OPTION = /pass|secret|password|token|credential|private|pin\b|key-file|p12/i;
export const REDACTED = '[redacted]';

/**
 * The command line without secrets: the value of every option that takes a value and whose name may carry a
 * secret (`--p12-password-file`, `--passphrase-file`, any `--…password…`, `--…token…`) is replaced by
 * [redacted], in both `--flag value` and `--flag=value` forms. `valued` names the options that take a value
 * (the CLI knows them); an unknown `--x=value` with a secret-like name is redacted too. Environment values are
 * never part of it.
 */
export function redactCommandLine(argv: readonly string[], valued: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const eq = a.indexOf('=');
    if (a.startsWith('-') && eq > 0) {
      const name = a.slice(0, eq);
      out.push(SECRET_OPTION.test(name) ? `${name}=${REDACTED}` : a);
      continue;
    }
    out.push(a);
    if (a.startsWith('-') && valued.has(a) && i + 1 < argv.length) {
      i++;
      out.push(SECRET_OPTION.test(a) ? REDACTED : argv[i]!);
    }
  }
  return out;
}

export interface AuditFilter {
  since?: string;
  clientId?: string;
  serial?: string;
}

/** The events a listing shows: at or after `since`, naming the client id or the serial. */
export function filterEvents(events: AuditEvent[], f: AuditFilter): AuditEvent[] {
  const since = f.since ? Date.parse(f.since) : undefined;
  const serial = f.serial?.toLowerCase().replace(/:/g, '');
  return events.filter(
    (e) => (since === undefined || Date.parse(e.time) >= since) && (!f.clientId || e.clientIds.includes(f.clientId)) && (!serial || e.serials.includes(serial)),
  );
}
