import type { Command } from 'commander';
import type { HttpRequest, HttpResponse } from '../domain/token-endpoint.js';
import { createTokenEndpoint } from '../domain/token-endpoint.js';
import { currentSigningKey, jwksOf } from '../domain/token-keys.js';
import { openTokenKeys, type Runtime } from './runtime.js';

/**
 * The token service `ca gateway` serves (POST /token, the JWKS, the metadata), on this store's keys: the key set is
 * read on every request (a rotation is seen at once), the first key made on the first token request (under the
 * store lock). Configured from CA_TOKEN_ISSUER and CA_TOKEN_AUDIENCE (both default to `https://localhost:<port>`, as the gateway's token checks do) and
 * CA_TOKEN_TTL_SECONDS, as the Lambda is.
 * @throws Error (a usage error for the CLI) when CA_TOKEN_TTL_SECONDS or CA_TOKEN_ISSUER is invalid
 */
export async function gatewayTokenEndpoint(
  rt: Runtime,
  cmd: Command,
  log?: (e: object) => void,
  defaults?: { issuer: string; audience: string },
): Promise<(req: HttpRequest) => Promise<HttpResponse>> {
  const { readTokenEnv } = await import('../lambda/token-service.js');
  const { resolveTokenConfig } = await import('../domain/token-endpoint.js');
  const { usageError } = await import('../domain/errors.js');
  const given = process.env;
  const env = readTokenEnv({
    CA_TABLE: 'local',
    AWS_REGION: 'local',
    ...given,
    ...(defaults && !given.CA_TOKEN_ISSUER?.trim() ? { CA_TOKEN_ISSUER: defaults.issuer } : {}),
    ...(defaults && !given.CA_TOKEN_AUDIENCE?.trim() ? { CA_TOKEN_AUDIENCE: defaults.audience } : {}),
  });
  const config = { issuer: env.issuer, defaultAudience: env.defaultAudience, ttlSeconds: env.ttlSeconds };
  try {
    resolveTokenConfig(config);
  } catch (e) {
    throw usageError((e as Error).message);
  }
  const keys = await openTokenKeys(rt, cmd);
  const deps = { ...keys, clock: rt.ctx.clock, lock: rt.store.lock };
  return createTokenEndpoint({
    registry: rt.store.registry,
    clock: rt.ctx.clock,
    config,
    log: log ?? (() => {}),
    jwks: async () => jwksOf(await keys.set.load()),
    signer: async () => {
      const entries = await keys.set.load();
      if (entries.length) return keys.custody.signer(await currentSigningKey(deps, { create: false }));
      const entry = await rt.store.lock.withLock(async () => {
        const first = (await keys.set.load()).length === 0;
        const made = await currentSigningKey(deps, { create: true });
        if (first) await rt.audit.record({ detail: { tokenKeyAdded: made.kid, activateAt: made.activateAt } });
        return made;
      });
      return keys.custody.signer(entry);
    },
  });
}
