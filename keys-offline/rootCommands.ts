// Keys and root: `keygen`, `init-root`, `bump-root` (a renewal: same keys, fresh expiry) and
// `edit-root` (keys, thresholds or online keys changed; the expiry is kept, see expiry.ts).
import path from 'node:path';
import { bumpedRootSigned, DEFAULT_ROOT_EXPIRY_SECONDS, editedRootSigned, rootSigned, type RootEdit } from '../core/ceremony.ts';
import { encodePrivateKeyFile, publicKeyFileOf, readPublicKey } from '../core/keyFile.ts';
import { generatePrivateKey, type KeyAlgorithm } from '../core/keys.ts';
import { chooseExpiry, describeExpiry, expiresDaysOption, withExpiry, type ExpiryMode } from './expiry.ts';
import { readEnvelopeFile, readJson, readPassphrase, writeJson } from './files.ts';
import { canonicalBytes, isPlainObject, type JsonObject } from '../core/canonical.ts';
import { OfflineError, readKeys, readOnlineKeys, say, threshold, unsigned, usage, type CommandContext } from './options.ts';

function rootExpiry(ctx: CommandContext, mode: ExpiryMode, current?: { expires?: unknown; version?: unknown }) {
  return chooseExpiry(
    { now: ctx.now, days: expiresDaysOption(ctx.values['expires-days']), defaultSeconds: DEFAULT_ROOT_EXPIRY_SECONDS, mode },
    current,
  );
}

export async function keygen({ values }: CommandContext): Promise<number> {
  const name = values.name ?? usage('keygen needs --name');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) usage('--name: 1 to 64 letters, digits, ".", "_" or "-"');
  const type = (values.type ?? 'ed25519') as KeyAlgorithm;
  if (type !== 'ed25519' && type !== 'ecdsa') usage('--type must be ed25519 or ecdsa');
  const dir = values.out ?? '.';
  const passphrase = await readPassphrase(`New passphrase for ${name}: `, true);
  const file = encodePrivateKeyFile(name, generatePrivateKey(type), passphrase);
  writeJson(path.join(dir, `${name}.key.json`), file, 0o600, false);
  writeJson(path.join(dir, `${name}.pub.json`), publicKeyFileOf(file), 0o644, false);
  say(
    `created ${name} (${type}), keyid ${file.keyid}`,
    `  private: ${path.join(dir, `${name}.key.json`)}`,
    `  public:  ${path.join(dir, `${name}.pub.json`)}`,
  );
  return 0;
}

export function initRoot(ctx: CommandContext): number {
  const { values } = ctx;
  const out = values.out ?? usage('init-root needs --out');
  const online = readOnlineKeys(values['online-keys'] ?? usage('init-root needs --online-keys (from `tuf-server online-keys show`)'));
  const rootKeys = readKeys(values['root-key'], '--root-key');
  const targetsKeys = readKeys(values['targets-key'], '--targets-key');
  const expiry = rootExpiry(ctx, 'new');
  const signed = rootSigned({
    version: 1,
    expires: expiry.expires,
    rootKeys,
    rootThreshold: threshold(values['root-threshold'], rootKeys.length, 'root'),
    targetsKeys,
    targetsThreshold: threshold(values['targets-threshold'], targetsKeys.length, 'targets'),
    snapshotKey: online.snapshot,
    timestampKey: online.timestamp,
  });
  writeJson(out, unsigned(signed));
  say(`wrote unsigned root v1 to ${out}; ${describeExpiry(expiry)}`, `now each root key holder runs: tuf-offline sign ${out} --key KEY`);
  return 0;
}

export function bumpRoot(ctx: CommandContext): number {
  const from = readEnvelopeFile(ctx.values.from ?? usage('bump-root needs --from'));
  const out = ctx.values.out ?? usage('bump-root needs --out');
  const expiry = rootExpiry(ctx, 'renewal');
  const signed = withExpiry(bumpedRootSigned(from.signed, ctx.now), expiry);
  writeJson(out, unsigned(signed));
  say(`wrote unsigned root v${String(signed.version)} to ${out}; ${describeExpiry(expiry)}`);
  return 0;
}

export function editRoot(ctx: CommandContext): number {
  const { values } = ctx;
  const from = readEnvelopeFile(values.from ?? usage('edit-root needs --from'));
  const out = values.out ?? usage('edit-root needs --out');
  const online = values['online-keys'] ? readOnlineKeys(values['online-keys']) : undefined;
  const thresholds: RootEdit['thresholds'] = {};
  if (values['root-threshold'] !== undefined) thresholds.root = Number(values['root-threshold']);
  if (values['targets-threshold'] !== undefined) thresholds.targets = Number(values['targets-threshold']);
  const expiry = rootExpiry(ctx, 'edit', from.signed);
  const edited = editedRootSigned(
    from.signed,
    {
      add: [
        ...(values['add-root-key'] ?? []).map((f) => ({ role: 'root' as const, key: readPublicKey(readJson(f), f).public })),
        ...(values['add-targets-key'] ?? []).map((f) => ({ role: 'targets' as const, key: readPublicKey(readJson(f), f).public })),
      ],
      remove: [
        ...(values['remove-root-key'] ?? []).map((keyid) => ({ role: 'root' as const, keyid })),
        ...(values['remove-targets-key'] ?? []).map((keyid) => ({ role: 'targets' as const, keyid })),
      ],
      thresholds,
      ...(online ? { online } : {}),
    },
    ctx.now,
  );
  if (values['expires-days'] === undefined && sameKeysAndRoles(from.signed, edited)) {
    throw new OfflineError(
      'no_change',
      `edit-root: nothing to change: root v${String(edited.version)} would name the same keys and thresholds as ` +
        `v${String(from.signed.version)} (no --add-*/--remove-* key, --*-threshold or --online-keys given, or they ` +
        'change nothing), so it would only be a new version. To renew root with the same keys, that is ' +
        `\`tuf-offline bump-root --from ${values.from} --out ${out}\` (a fresh expiry); to move only the expiry, ` +
        'give edit-root --expires-days D. Nothing written',
    );
  }
  const signed = withExpiry(edited, expiry);
  writeJson(out, unsigned(signed));
  say(
    `wrote unsigned root v${String(signed.version)} to ${out}; ${describeExpiry(expiry)}`,
    `check it with: tuf-offline status ${out} --previous ${values.from}`,
  );
  if (!sameRole(from.signed, signed, 'targets'))
    say(
      'the targets keys change: the current targets must be re-signed by the new ones and pushed together with this root ' +
        `(the server refuses this root alone): tuf-offline edit-targets --from current/T.targets.json --out T+1.targets.json, ` +
        `sign it with the new targets key(s), check it with tuf-offline status T+1.targets.json --root ${out}, then ` +
        `tuf-carry push ${out} --with-targets T+1.targets.json`,
    );
  return 0;
}

/** Whether a role names the same keys and threshold in two root versions. */
function sameRole(a: JsonObject, b: JsonObject, role: string): boolean {
  const of = (r: JsonObject) => {
    const roles = r.roles;
    return isPlainObject(roles) && Object.hasOwn(roles, role) ? (roles[role] ?? null) : null;
  };
  return Buffer.from(canonicalBytes(of(a))).equals(Buffer.from(canonicalBytes(of(b))));
}

/** Whether two root versions name the same keys, roles and thresholds (everything but version and expiry). */
function sameKeysAndRoles(a: JsonObject, b: JsonObject): boolean {
  const rest = ({ version: _v, expires: _e, ...others }: JsonObject) => others;
  return Buffer.from(canonicalBytes(rest(a))).equals(Buffer.from(canonicalBytes(rest(b))));
}
