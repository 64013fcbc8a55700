// A per-signature report for one metadata file against its delegator: what `tuf-client verify`
// prints. Uses the same verifiers as everything else; only the presentation is its own.
import { Metadata, MetadataKind, type Root, type Targets } from '@tufjs/models';
import { canonicalBytes, isPlainObject } from './canonical.ts';
import { TufError } from './errors.ts';
import { isIdentityKey, type IdentitySignatureVerifier } from './identity.ts';
import type { TufKey } from './keys.ts';
import type { Envelope } from './metadata.ts';
import type { RoleSpec } from './verify.ts';

export interface SignatureReport {
  keyid: string;
  keytype?: string;
  identity?: string;
  issuer?: string;
  valid: boolean;
  reason?: string;
}

export interface RoleReport {
  role: string;
  version: number;
  threshold: number;
  validKeyids: string[];
  met: boolean;
  signatures: SignatureReport[];
}

function roleOf(delegator: Envelope, role: string): { spec: RoleSpec; keys: Record<string, TufKey> } {
  const type = delegator.signed._type;
  let keyMap: Record<string, { toJSON(): unknown }>;
  let spec: { keyIDs: string[]; threshold: number } | undefined;
  try {
    if (type === 'root') {
      const root = Metadata.fromJSON(MetadataKind.Root, structuredClone(delegator) as never).signed as Root;
      keyMap = root.keys;
      spec = Object.hasOwn(root.roles, role) ? root.roles[role] : undefined;
    } else if (type === 'targets') {
      const targets = Metadata.fromJSON(MetadataKind.Targets, structuredClone(delegator) as never).signed as Targets;
      keyMap = targets.delegations?.keys ?? {};
      const roles = targets.delegations?.roles;
      spec = roles && Object.hasOwn(roles, role) ? roles[role] : undefined;
    } else {
      throw new TufError('wrong_type', `a delegator is root or targets metadata, not ${String(type)}`);
    }
  } catch (err) {
    if (err instanceof TufError) throw err;
    throw new TufError('malformed', `delegator: ${(err as Error).message}`);
  }
  if (!spec) throw new TufError('not_delegated', `the delegator does not delegate ${role}`);
  // Own properties only, into a null-prototype object: a keyid like "constructor" finds nothing.
  const keys: Record<string, TufKey> = Object.create(null);
  for (const keyid of spec.keyIDs) if (Object.hasOwn(keyMap, keyid)) keys[keyid] = keyMap[keyid]!.toJSON() as TufKey;
  return { spec: { keyids: spec.keyIDs, threshold: spec.threshold }, keys };
}

export function explainRole(value: unknown, delegator: unknown, role: string, verifier: IdentitySignatureVerifier): RoleReport {
  if (!isPlainObject(value) || !isPlainObject(value.signed) || !Array.isArray(value.signatures)) {
    throw new TufError('malformed', 'not TUF metadata');
  }
  if (!isPlainObject(delegator) || !isPlainObject(delegator.signed)) throw new TufError('malformed', 'delegator is not TUF metadata');
  const doc = value as unknown as Envelope;
  const { spec, keys } = roleOf(delegator as unknown as Envelope, role);
  const bytes = canonicalBytes(doc.signed);
  const authorized = new Set(spec.keyids);
  const valid = new Set<string>();
  const signatures: SignatureReport[] = doc.signatures.map((sig) => {
    const key = authorized.has(sig.keyid) ? keys[sig.keyid] : undefined;
    if (!key) return { keyid: sig.keyid, valid: false, reason: 'not a key of this role' };
    if (isIdentityKey(key)) {
      const v = verifier.explain(key, sig, bytes);
      if (v.valid) valid.add(sig.keyid);
      return {
        keyid: sig.keyid,
        keytype: key.keytype,
        identity: key.keyval.identity,
        issuer: key.keyval.issuer,
        valid: v.valid,
        ...(v.reason ? { reason: v.reason } : {}),
      };
    }
    const ok = verifier.verify(key, sig, bytes);
    if (ok) valid.add(sig.keyid);
    return { keyid: sig.keyid, keytype: key.keytype, valid: ok, ...(ok ? {} : { reason: 'signature does not verify' }) };
  });
  const threshold = spec.threshold;
  return {
    role,
    version: Number(doc.signed.version),
    threshold,
    validKeyids: [...valid],
    met: threshold >= 1 && valid.size >= threshold,
    signatures,
  };
}
