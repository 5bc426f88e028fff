import { randomBytes } from 'node:crypto';

/**
 * A random positive serial of 16 octets (RFC 5280 4.1.2.2: positive, at most 20 octets; CA/B Forum
 * asks for 64+ bits of randomness, this has 124). The first octet is kept in 0x10..0x7f so the INTEGER
 * needs no leading zero and its hex form is always 32 characters, whatever tool prints it.
 */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = 0x10 + (b[0]! % 0x70);
  return b.toString('hex');
}

/** Normalises a serial typed or printed by any tool (colons, 0x, upper case, leading zeros) to ours. */
export function normalizeSerial(input: string): string {
  let s = input.trim().toLowerCase().replace(/^0x/, '').replace(/[:\s-]/g, '');
  s = s.replace(/^0+(?=[0-9a-f])/, '');
  return s;
}

export function isSerial(input: string): boolean {
  return /^[0-9a-f]{1,40}$/.test(normalizeSerial(input));
}
