/**
 * ECDSA signature formats: KMS (and X.509) give a DER Ecdsa-Sig-Value `SEQUENCE { r INTEGER, s INTEGER }`,
 * JWS (RFC 7518 §3.4) wants R‖S, each the curve's size in octets, big-endian, left-padded with zeros.
 * Pure, no imports: the token handler's bundle includes it.
 */

/** Thrown for a DER input that is not one well-formed Ecdsa-Sig-Value of this curve size. */
export class SignatureFormatError extends Error {
  override name = 'SignatureFormatError';
}

/** Reads a DER length at `pos`; definite lengths only, at most 2 length octets (a signature is tiny). */
function readLength(der: Uint8Array, pos: number): [length: number, next: number] {
  const first = der[pos];
  if (first === undefined) throw new SignatureFormatError('truncated length');
  if (first < 0x80) return [first, pos + 1];
  const n = first & 0x7f;
  if (n === 0 || n > 2) throw new SignatureFormatError('unsupported length form');
  let len = 0;
  for (let i = 1; i <= n; i++) {
    const b = der[pos + i];
    if (b === undefined) throw new SignatureFormatError('truncated length');
    len = (len << 8) | b;
  }
  if (len < 0x80 || (n === 2 && len < 0x100)) throw new SignatureFormatError('non-minimal length');
  return [len, pos + 1 + n];
}

/** One positive INTEGER's value, as exactly `size` octets. */
function readInteger(der: Uint8Array, pos: number, size: number): [value: Uint8Array, next: number] {
  if (der[pos] !== 0x02) throw new SignatureFormatError('expected an INTEGER');
  const [len, start] = readLength(der, pos + 1);
  const end = start + len;
  if (len === 0 || end > der.length) throw new SignatureFormatError('truncated INTEGER');
  let bytes = der.subarray(start, end);
  if (bytes[0]! & 0x80) throw new SignatureFormatError('negative INTEGER');
  // DER: a leading zero only when the next octet has its high bit set (else the encoding is not minimal)
  if (bytes.length > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) throw new SignatureFormatError('non-minimal INTEGER');
  while (bytes.length > 0 && bytes[0] === 0) bytes = bytes.subarray(1);
  if (bytes.length > size) throw new SignatureFormatError(`INTEGER longer than ${size} octets`);
  if (bytes.length === 0) throw new SignatureFormatError('zero INTEGER');
  const out = new Uint8Array(size);
  out.set(bytes, size - bytes.length);
  return [out, end];
}

/**
 * DER Ecdsa-Sig-Value to JOSE R‖S (`size` 32 for ES256). r and s may be encoded in fewer octets (leading zeros
 * dropped) or one more (a 0x00 before a high bit): both come out as exactly `size` octets.
 * @throws SignatureFormatError for anything else (trailing bytes, non-minimal DER, a value out of range)
 */
export function derToJose(der: Uint8Array, size = 32): Uint8Array {
  if (der[0] !== 0x30) throw new SignatureFormatError('expected a SEQUENCE');
  const [len, start] = readLength(der, 1);
  if (start + len !== der.length) throw new SignatureFormatError('length does not match the input');
  const [r, afterR] = readInteger(der, start, size);
  const [s, afterS] = readInteger(der, afterR, size);
  if (afterS !== der.length) throw new SignatureFormatError('trailing bytes after s');
  const out = new Uint8Array(size * 2);
  out.set(r, 0);
  out.set(s, size);
  return out;
}

/** JOSE R‖S back to DER (minimal INTEGERs): what OpenSSL and node:crypto's `dsaEncoding: 'der'` verify. */
export function joseToDer(sig: Uint8Array, size = 32): Uint8Array {
  if (sig.length !== size * 2) throw new SignatureFormatError(`expected ${size * 2} octets, got ${sig.length}`);
  const int = (v: Uint8Array) => {
    let i = 0;
    while (i < v.length - 1 && v[i] === 0) i++;
    const body = v[i]! & 0x80 ? [0, ...v.subarray(i)] : [...v.subarray(i)];
    return [0x02, body.length, ...body];
  };
  const body = [...int(sig.subarray(0, size)), ...int(sig.subarray(size))];
  const head = body.length < 0x80 ? [0x30, body.length] : [0x30, 0x81, body.length];
  return Uint8Array.from([...head, ...body]);
}
