// `tuf-server online-keys show|create|rotate`: the online key files of the server, from the folder
// the configuration names. Run elsewhere than where the server runs, that folder is not the
// server's: `show` then says where it looked and how to point it at the server's keys, and never
// suggests creating keys unless this is a new production repository.
import type { Config } from './config.ts';
import { createKnex, SILENT_KNEX_LOG } from './db/knex.ts';
import { getHead } from './db/metadataRepo.ts';
import { currentOnlinePublicKeys, ensureOnlineKeys, ONLINE_ROLES, type OnlineRole } from './onlineKeys.ts';
import { keyStoreFor } from './runtime.ts';

export type OnlineKeysCommandErrorCode = 'no_online_keys';

export class OnlineKeysCommandError extends Error {
  override readonly name = 'OnlineKeysCommandError';
  constructor(
    readonly code: OnlineKeysCommandErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Whether DATABASE_URL holds a bootstrapped repository; null when that cannot be told. */
async function databaseBootstrapped(config: Config): Promise<boolean | null> {
  if (!config.databaseUrl) return null;
  const knex = createKnex(config.databaseUrl, 1, { log: SILENT_KNEX_LOG });
  try {
    return (await getHead(knex, 'root')) !== undefined;
  } catch (err) {
    // 42P01: no role_heads table, the schema was never created: a new repository.
    return (err as { code?: string }).code === '42P01' ? false : null;
  } finally {
    await knex.destroy();
  }
}

/** Where `show` looked, how to point it at the server's keys, and (only on a new production repository) `create`. */
export async function noOnlineKeysMessage(config: Config): Promise<string> {
  if (config.pkcs11)
    return `no online keys in the PKCS#11 token ${JSON.stringify(config.pkcs11.tokenLabel)} (${config.pkcs11.modulePath}): on a new repository, create them there with \`tuf-server online-keys create\` (README, "Online keys in a hardware token"); otherwise check PKCS11_TOKEN_LABEL`;
  const loc = config.onlineKeysLocation;
  const where =
    loc.source === 'ONLINE_KEYS_DIR'
      ? `${loc.dir} (ONLINE_KEYS_DIR)`
      : loc.defaultDir === loc.legacyDir
        ? `${loc.dir} (DATA_DIR/online-keys, DATA_DIR ${config.dataDir})`
        : `${loc.dir} (DATA_DIR/online-keys, DATA_DIR ${config.dataDir}), nor in ${loc.legacyDir} (.data/online-keys here, the default before it followed DATA_DIR)`;
  const lines = [
    `no online keys in ${where}.`,
    'If the server runs elsewhere, this folder is not where it keeps its keys: run this command where the server runs ' +
      "(the folder of `npm start`, or its TUF_HOME, with its environment), or point it at the server's keys: " +
      "ONLINE_KEYS_DIR=the server's ONLINE_KEYS_DIR, or DATA_DIR=the server's DATA_DIR (its keys are in DATA_DIR/online-keys, " +
      'or in .data/online-keys of the folder it was started in).',
  ];
  if (!config.production) {
    lines.push('A development server creates its online keys itself when it starts (`npm start`); do not create another set.');
  } else {
    const bootstrapped = await databaseBootstrapped(config);
    if (bootstrapped === false)
      lines.push(
        'The database holds no repository yet: on the new server, create its keys with `tuf-server online-keys create` (README, "A real ceremony", step 1).',
      );
    else if (bootstrapped === true)
      lines.push("The database holds a bootstrapped repository, so its online keys exist: find the server's, do not create new ones.");
    else lines.push("Could not tell from the database whether the repository exists: find the server's keys before creating any.");
  }
  return lines.join('\n');
}

export async function onlineKeysCommand(config: Config, sub: string | undefined, role: string | undefined): Promise<void> {
  for (const warning of config.warnings) process.stderr.write(`tuf-server: warning: ${warning}\n`);
  const store = keyStoreFor(config);
  if (sub === 'show') {
    const keys = await currentOnlinePublicKeys(store);
    if (!keys) throw new OnlineKeysCommandError('no_online_keys', await noOnlineKeysMessage(config));
    process.stdout.write(`${JSON.stringify(keys, null, 2)}\n`);
  } else if (sub === 'create') {
    process.stdout.write(`${JSON.stringify(await ensureOnlineKeys(store), null, 2)}\n`);
  } else if (sub === 'rotate') {
    if (!ONLINE_ROLES.includes(role as OnlineRole)) throw new Error('usage: tuf-server online-keys rotate snapshot|timestamp');
    const signer = await store.create(role as OnlineRole);
    process.stdout.write(`${JSON.stringify({ [role!]: signer.publicKey }, null, 2)}\n`);
    // The JSON above is for scripts; what a person needs next goes to stderr (drill finding).
    process.stderr.write(
      `tuf-server: new ${role} key ${signer.keyid} (${config.onlineKeysFromEnv ? 'environment' : `in ${config.onlineKeysDir}`}). ` +
        `The server keeps signing with the ${role} key root names until a new root names this one. Next: ` +
        '`tuf-server online-keys show > online-keys.json` (the newest key of each role; `tuf-carry pull` writes the same to ' +
        'online-keys.json), then offline `tuf-offline edit-root --from current/N.root.json --out N+1.root.json --online-keys ' +
        'online-keys.json`, sign and push (docs/runbooks.md, "An online key leaked or lost").\n',
    );
  } else {
    throw new Error('usage: tuf-server online-keys show|create|rotate ROLE');
  }
}
