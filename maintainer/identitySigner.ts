// Signs TUF metadata with the maintainer's OIDC identity through Sigstore (TAP 18): a short-lived
// Fulcio certificate for an ephemeral key, and a Rekor entry. What is signed is the canonical JSON
// of `signed`, as a plain message signature, exactly as securesystemslib's SigstoreSigner does.
import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, FulcioSigner, MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import type { SignatureJson } from '../core/metadata.ts';

export interface SigstoreEndpoints {
  fulcioUrl: string;
  rekorUrl: string;
}

/** Where the OIDC token comes from; called once per signature (tokens are short-lived). */
export interface TokenSource {
  getToken(): Promise<string>;
}

/** Removes anything that looks like a JWT from a message before it is shown or logged. */
export function redactTokens(message: string): string {
  return message.replace(/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '[token redacted]');
}

export async function signWithIdentity(
  bytes: Uint8Array,
  keyid: string,
  endpoints: SigstoreEndpoints,
  tokens: TokenSource,
): Promise<SignatureJson> {
  const builder = new MessageSignatureBundleBuilder({
    signer: new FulcioSigner({ fulcioBaseURL: endpoints.fulcioUrl, identityProvider: tokens, retry: 0, timeout: 30_000 }),
    witnesses: [new RekorWitness({ rekorBaseURL: endpoints.rekorUrl, retry: 0, timeout: 30_000 })],
  });
  let bundle;
  try {
    bundle = await builder.create({ data: Buffer.from(bytes) });
  } catch (err) {
    // FulcioSigner puts the whole token into some of its messages (DESIGN.md section 3).
    throw new Error(`Sigstore signing failed: ${redactTokens((err as Error).message)}`);
  }
  const json = bundleToJSON(bundle) as unknown as { messageSignature: { signature: string } };
  return { keyid, sig: json.messageSignature.signature, bundle: json as never };
}

/**
 * Signs an in-toto statement as a DSSE envelope through Sigstore (a build-provenance attestation,
 * core/provenance.ts): the bundle a CI job hands to `tuf-maintainer publish --provenance`, in the
 * form actions/attest-build-provenance writes (a `dsse` transparency-log entry).
 */
export async function signAttestationStatement(
  statement: Uint8Array,
  payloadType: string,
  endpoints: SigstoreEndpoints,
  tokens: TokenSource,
): Promise<unknown> {
  const builder = new DSSEBundleBuilder({
    signer: new FulcioSigner({ fulcioBaseURL: endpoints.fulcioUrl, identityProvider: tokens, retry: 0, timeout: 30_000 }),
    witnesses: [new RekorWitness({ rekorBaseURL: endpoints.rekorUrl, retry: 0, timeout: 30_000, entryType: 'dsse' })],
  });
  try {
    return bundleToJSON(await builder.create({ data: Buffer.from(statement), type: payloadType }));
  } catch (err) {
    throw new Error(`Sigstore signing failed: ${redactTokens((err as Error).message)}`);
  }
}
