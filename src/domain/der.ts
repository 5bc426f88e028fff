/** Minimal DER writing for the few places where building bytes directly beats a schema round trip. */

export function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

export const sequence = (...content: Uint8Array[]) => tlv(0x30, ...content);

/** A BIT STRING with no unused bits (signatures, public keys). */
export const bitString = (content: Uint8Array) => tlv(0x03, Buffer.from([0]), content);

export const derNull = () => Buffer.from([0x05, 0x00]);

export function objectIdentifier(oid: string): Buffer {
  const parts = oid.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** All PEM blocks with the given label, as DER. Text outside the blocks is ignored. */
export function pemBlocks(text: string, label: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  const out: Buffer[] = [];
  for (const m of text.matchAll(re)) {
    const body = m[1]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) throw new Error(`malformed base64 in ${label} block`);
    out.push(Buffer.from(body, 'base64'));
  }
  return out;
}

/** One TLV read from DER: where its value starts and ends. */
export interface Tlv {
  tag: number;
  start: number;
  valueStart: number;
  end: number;
}

/** Reads the TLV at `off` (definite lengths only, as DER requires). */
export function readTlv(der: Uint8Array, off: number): Tlv {
  const tag = der[off]!;
  let len = der[off + 1]!;
  let valueStart = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[off + 2 + i]!;
    valueStart += n;
  }
  const end = valueStart + len;
  if (end > der.length) throw new Error('truncated DER');
  return { tag, start: off, valueStart, end };
}

/** The children of a constructed TLV. */
export function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = parent.valueStart; off < parent.end; ) {
    const t = readTlv(der, off);
    out.push(t);
    off = t.end;
  }
  return out;
}
