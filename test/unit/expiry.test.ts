import { afterAll, describe, expect, it } from 'vitest';
import { rotateIntermediate } from '../../src/domain/hierarchy.js';
import { issueClient } from '../../src/domain/issuance.js';
import { status } from '../../src/domain/reporting.js';
import { after, cleanupAll, DAY, makeCa } from '../helpers/pki.js';

afterAll(cleanupAll);

const caWarnings = (ws: string[]) => ws.filter((w) => /root CA|intermediate/.test(w));

describe('status: a CA certificate near its end without a successor', () => {
  it('warns about the issuing intermediate near its end, and no more once a rotation gave it a successor', async () => {
    const ca = await makeCa({ policy: { intermediateValidityDays: 40 } });
    // a client keeps the previous intermediate trusted after the rotation (its old certificate is in grace)
    await issueClient(ca.ctx(after(DAY)), { clientId: 'acme', validityDays: 10 });
    const far = await status(ca.ctx(after(5 * DAY)), 30);
    expect(caWarnings(far.warnings)).toEqual([]);
    await issueClient(ca.ctx(after(19 * DAY)), { clientId: 'acme', validityDays: 10, replace: true });
    const near = await status(ca.ctx(after(20 * DAY)), 30);
    expect(caWarnings(near.warnings)).toHaveLength(1);
    expect(caWarnings(near.warnings)[0]).toMatch(/^the issuing intermediate .* expires in \d+ days .* and has no successor: run `ca rotate-intermediate`$/);

    await rotateIntermediate(ca.ctx(after(20 * DAY), { intermediateValidityDays: 400 }));
    const rotated = await status(ca.ctx(after(20 * DAY + 60_000)), 30);
    // the previous intermediate still ends within 30 days, but the new one succeeds it
    expect(rotated.intermediates.find((i) => i.status === 'superseded')!.daysLeft).toBeLessThan(30);
    expect(caWarnings(rotated.warnings)).toEqual([]);
  });

  it('warns about a root near its end, and says a rotation cannot help an intermediate that ends with it', async () => {
    const ca = await makeCa({ policy: { rootValidityDays: 40 } });
    const s = await status(ca.ctx(after(20 * DAY)), 30);
    const ws = caWarnings(s.warnings);
    expect(ws).toHaveLength(2);
    expect(ws[0]).toMatch(/^root CA expires in \d+ days .*: replace the CA with `ca bootstrap --force` before then$/);
    expect(ws[1]).toMatch(/has no successor: a new intermediate cannot outlive the root, which ends then too: replace the CA with `ca bootstrap --force`$/);
  });
});
