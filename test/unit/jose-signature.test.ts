import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derToJose, joseToDer, SignatureFormatError } from '../../src/domain/jose-signature.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const seq = (...ints: string[]) => {
  const body = ints.map((i) => `02${(i.length / 2).toString(16).padStart(2, '0')}${i}`).join('');
  return hex(`30${(body.length / 2).toString(16).padStart(2, '0')}${body}`);
};

describe('DER Ecdsa-Sig-Value to JOSE R||S (RFC 7518 section 3.4)', () => {
  it('agrees with node:crypto\'s ieee-p1363 encoding of the same signature, for many signatures (short and 33-byte integers among them)', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const lengths = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const msg = Buffer.from(`message ${i}`);
      const der = sign('sha256', msg, { key: privateKey, dsaEncoding: 'der' });
      lengths.add(der[3]!);
      const jose = derToJose(der);
      expect(jose.length).toBe(64);
      // the independent check: node verifies our R||S as an IEEE P1363 signature
      expect(verify('sha256', msg, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose)).toBe(true);
      expect(Buffer.from(joseToDer(jose)).equals(der)).toBe(true);
    }
    // r of 33 octets (high bit, leading 0x00) and of 32 both occurred among 300 signatures
    expect(lengths.has(33)).toBe(true);
    expect(lengths.has(32)).toBe(true);
  });

  it('left-pads a 31-byte (or shorter) integer and strips a leading 0x00 before a high bit', () => {
    const r31 = '11'.repeat(31);
    const s33 = '00' + '80' + '22'.repeat(31);
    const out = derToJose(seq(r31, s33));
    expect(Buffer.from(out.subarray(0, 32)).toString('hex')).toBe('00' + r31);
    expect(Buffer.from(out.subarray(32)).toString('hex')).toBe('80' + '22'.repeat(31));
    expect(Buffer.from(derToJose(seq('01', '7f'))).toString('hex')).toBe('00'.repeat(31) + '01' + '00'.repeat(31) + '7f');
    expect(Buffer.from(joseToDer(derToJose(seq(r31, s33)))).toString('hex')).toBe(Buffer.from(seq(r31, s33)).toString('hex'));
  });

  it('refuses anything else: trailing bytes, negative, non-minimal, too long, zero, truncated, wrong tags', () => {
    const bad = [
      new Uint8Array([...seq('01', '01'), 0]),
      seq('80', '01'), // negative r
      seq('0001', '01'), // a leading zero before a low bit
      seq('01' + '00'.repeat(32), '01'), // 33 octets of value
      seq('00', '01'), // zero
      hex('3006020101020101'), // length says 6, has 6: fine... followed by nothing: valid control below
      hex('30050201010201'), // truncated s
      hex('3106020101020101'), // SET, not SEQUENCE
      hex('3006030101020101'), // BIT STRING, not INTEGER
      new Uint8Array(),
    ];
    expect(() => derToJose(bad[5]!)).not.toThrow();
    for (const [i, b] of bad.entries()) if (i !== 5) expect(() => derToJose(b), `case ${i}`).toThrow(SignatureFormatError);
    expect(() => joseToDer(new Uint8Array(63))).toThrow(SignatureFormatError);
  });
});
