import type { CaProfile, CertificateRecord, CertificateRegistry } from '../ports.js';
import { loadCaState } from './ca-state.js';
import { subjectOrganization } from './certificate.js';
import { pemBlocks } from './der.js';
import { conflict } from './errors.js';
import { DEFAULT_POLICY } from './policy.js';

/** One profile setting someone asked for, and where it came from (a flag, a variable, the config file). */
export interface RequestedSetting<V> {
  value: V;
  /** e.g. `--org`, `CA_ORGANIZATION`, `ca.config.json` */
  source: string;
}

/** The profile settings given explicitly in this run; unset ones are absent. */
export type RequestedProfile = { [K in keyof CaProfile]?: RequestedSetting<CaProfile[K]> };

/** The profile's keys in the order they are reported. */
export const PROFILE_KEYS = [
  'organization',
  'caName',
  'caKeyType',
  'clientKeyType',
  'rootValidityDays',
  'intermediateValidityDays',
  'clientValidityDays',
  'graceDays',
  'spiffeTrustDomain',
  'crlDistributionPoint',
] as const satisfies readonly (keyof CaProfile)[];

export interface ProfileChange {
  key: keyof CaProfile;
  from: CaProfile[keyof CaProfile] | undefined;
  to: CaProfile[keyof CaProfile] | undefined;
  source: string;
}

/** The recorded profile and what (if anything) this run changes or records for the first time. */
export interface ReconciledProfile {
  profile: CaProfile;
  /** settings that differ from the recorded ones and are taken because the run asked to update the profile */
  changes: ProfileChange[];
  /** the store holds no complete recorded profile yet (a CA made before profiles were recorded) */
  unrecorded: boolean;
}

/**
 * What a root's recorded profile says. A root recorded before profiles were kept yields what its certificate
 * shows (organization, CA name, key type); the other settings are then unrecorded and taken from this run.
 */
export function recordedProfile(root: CertificateRecord): Partial<CaProfile> {
  if (root.profile) return root.profile;
  const der = pemBlocks(root.certificatePem, 'CERTIFICATE')[0]!;
  const cn = /^CN=(.*?)(, O=.*)?$/.exec(root.subject)?.[1] ?? '';
  const organization = subjectOrganization(der);
  return {
    ...(organization !== undefined ? { organization } : {}),
    ...(cn.endsWith(' Root CA') ? { caName: cn.slice(0, -' Root CA'.length) } : {}),
    caKeyType: root.keyType,
  };
}

/** When a recorded change of each setting shows in certificates. */
const TAKES_EFFECT: Record<keyof CaProfile, string> = {
  organization: 'the next intermediate and the clients it issues carry it: `ca rotate-intermediate`',
  caName: 'the next intermediate carries it: `ca rotate-intermediate`',
  caKeyType: 'the next intermediate gets a key of that type: `ca rotate-intermediate`',
  clientKeyType: 'keys generated from then on',
  rootValidityDays: 'the next root: `ca bootstrap --force`',
  intermediateValidityDays: 'the next intermediate: `ca rotate-intermediate`',
  clientValidityDays: 'new clients; renewals keep each certificate\'s own length',
  graceDays: 'certificates superseded from then on',
  spiffeTrustDomain: 'new clients; renewals keep each certificate\'s own SPIFFE ID',
  crlDistributionPoint: 'new clients; renewals and rotation keep each certificate\'s own setting',
};

const show = (v: unknown) => (v === undefined ? 'none' : JSON.stringify(v));

const NAMES: Record<keyof CaProfile, string> = {
  organization: 'organization',
  caName: 'CA name',
  caKeyType: 'CA key type',
  clientKeyType: 'client key type',
  rootValidityDays: 'root validity',
  intermediateValidityDays: 'intermediate validity',
  clientValidityDays: 'client validity',
  graceDays: 'grace period',
  spiffeTrustDomain: 'SPIFFE trust domain',
  crlDistributionPoint: 'CRL distribution point',
};

/**
 * Decides the profile a run issues with: the recorded one, with the requested settings checked against it.
 * A requested setting that disagrees is refused, unless `update` asks to record it.
 * @throws CaError conflict naming the setting, both values and where the requested one came from
 */
export function reconcileProfile(
  recorded: Partial<CaProfile> | undefined,
  requested: RequestedProfile,
  o: { update?: boolean; /** keep the recorded settings silently (read-only commands) */ keep?: boolean } = {},
): ReconciledProfile {
  const base: Partial<CaProfile> = recorded ?? {};
  const profile = { ...DEFAULT_POLICY, ...base } as CaProfile;
  const changes: ProfileChange[] = [];
  const unrecorded = !isComplete(base);
  for (const key of PROFILE_KEYS) {
    const want = requested[key];
    const has = key in base;
    if (!recorded || (!has && unrecorded)) {
      // a new CA, or a setting an older CA never recorded: taken from this run (or the default)
      if (want) (profile as unknown as Record<string, unknown>)[key] = want.value;
      continue;
    }
    if (!want || want.value === base[key] || o.keep) continue;
    if (!o.update) {
      throw conflict(
        `${NAMES[key]} is ${show(want.value)} here (${want.source}) but this CA's recorded profile has ${show(base[key])}`,
        `remove the setting to keep the recorded one, or add --update-profile to record ${show(want.value)} (${TAKES_EFFECT[key]})`,
      );
    }
    changes.push({ key, from: base[key], to: want.value, source: want.source });
    if (want.value === undefined) delete profile[key];
    else (profile as unknown as Record<string, unknown>)[key] = want.value;
  }
  return { profile, changes, unrecorded };
}

/** Settings a complete profile may lack: absent means off. */
const OPTIONAL_KEYS: readonly (keyof CaProfile)[] = ['spiffeTrustDomain', 'crlDistributionPoint'];

/** A recorded profile is complete when every required setting is there (the optional ones may be absent). */
function isComplete(p: Partial<CaProfile>): boolean {
  return PROFILE_KEYS.every((k) => OPTIONAL_KEYS.includes(k) || k in p);
}

/**
 * Loads the store's recorded profile and reconciles this run's settings with it; with `record`, stores a
 * changed profile (or the first complete profile of an older CA) on the root, so later runs read it back.
 * Without a CA in the store, the profile is this run's settings over the defaults (bootstrap records it).
 * @throws CaError conflict (see reconcileProfile), or when the root changed meanwhile
 */
export async function loadProfile(
  registry: CertificateRegistry,
  requested: RequestedProfile,
  o: { update?: boolean; keep?: boolean; record?: boolean } = {},
): Promise<ReconciledProfile & { root?: CertificateRecord }> {
  const { root } = await loadCaState(registry);
  const r = reconcileProfile(root ? recordedProfile(root) : undefined, requested, o);
  if (root && o.record && (r.changes.length || r.unrecorded)) {
    await registry.commit([{ op: 'update', expect: 'active', record: { ...root, profile: r.profile } }], { atomic: true });
  }
  return { ...r, root };
}
