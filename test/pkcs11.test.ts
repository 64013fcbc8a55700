// Online keys in a PKCS#11 token (issue 16), against SoftHSM2: keys are generated inside the token
// and cannot be read out, the server signs snapshot and timestamp through it, `tuf-server
// online-keys rotate` adds a key there, a stock tuf-js client follows the rotation, and a missing
// library, a missing token or a wrong PIN are refused with their own codes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Updater } from 'tuf-js';
import { DEFAULT_ROOT_EXPIRY_SECONDS, initialTargetsSigned, rootSigned } from '../core/ceremony.ts';
import { generatePrivateKey, verifyKeySignature, type TufKey } from '../core/keys.ts';
import { expiresAfter, signEnvelope, type Envelope } from '../core/metadata.ts';
import { privateKeySigner } from '../core/signer.ts';
import { createKnex, migrateLatest } from '../server/db/knex.ts';
import { AdminTokens } from '../server/admin/adminTokens.ts';
import { Pkcs11KeyStore } from '../server/pkcs11/pkcs11KeyStore.ts';
import { Pkcs11Error, TokenSession } from '../server/pkcs11/token.ts';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/db.ts';
import { recordSecret } from './helpers/secrets.ts';
import { startServerProcess, type ServerProcess } from './helpers/serverProcess.ts';
import { SOFTHSM_MODULE, softHsmTokens, type SoftToken } from './helpers/softhsm.ts';

let tokens: SoftToken[];
let dir: string;
const stores: Pkcs11KeyStore[] = [];

before(() => {
  tokens = softHsmTokens(['unit', 'ed25519', 'repo', 'errors']);
  // SoftHSM reads its configuration when the library initializes, once per process.
  process.env.SOFTHSM2_CONF = tokens[0]!.conf;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-pkcs11-'));
});

after(() => {
  for (const s of stores) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function store(
  t: SoftToken,
  overrides: Partial<{ pin: string; label: string; modulePath: string; keyType: 'ed25519' | 'ecdsa' | 'auto' }> = {},
) {
  const s = new Pkcs11KeyStore({
    modulePath: overrides.modulePath ?? SOFTHSM_MODULE,
    tokenLabel: overrides.label ?? t.label,
    pin: overrides.pin ?? t.pin,
    keyType: overrides.keyType ?? 'auto',
  });
  stores.push(s);
  return s;
}

test('keys are generated inside the token, sign there, and cannot be read out', async () => {
  const s = store(tokens[0]!);
  assert.deepEqual(await s.list('snapshot'), []);
  const snapshot = await s.create('snapshot');
  const timestamp = await s.create('timestamp');
  assert.equal(snapshot.publicKey.keytype, 'ecdsa', 'SoftHSM2 has both: auto chooses ECDSA, as for file keys');
  assert.equal(snapshot.publicKey.scheme, 'ecdsa-sha2-nistp256');
  assert.notEqual(snapshot.keyid, timestamp.keyid);
  assert.deepEqual(
    (await s.list('snapshot')).map((k) => k.keyid),
    [snapshot.keyid],
  );
  const message = Buffer.from('canonical bytes of a snapshot');
  const sig = await snapshot.sign(message);
  assert.ok(verifyKeySignature(snapshot.publicKey, sig, message), 'the signature verifies with the public key read from the token');
  assert.ok(!verifyKeySignature(timestamp.publicKey, sig, message));

  // The private halves: sensitive, never extractable, and their value cannot be read.
  const t = TokenSession.open({ modulePath: SOFTHSM_MODULE, tokenLabel: 'unit', pin: tokens[0]!.pin, keyType: 'auto' });
  try {
    const privates = t.find([{ type: t.lib.CKA_CLASS, value: t.lib.CKO_PRIVATE_KEY }]);
    assert.equal(privates.length, 2);
    for (const h of privates) {
      assert.equal(t.attribute(h, t.lib.CKA_SENSITIVE)[0], 1);
      assert.equal(t.attribute(h, t.lib.CKA_EXTRACTABLE)[0], 0);
      assert.equal(t.attribute(h, t.lib.CKA_NEVER_EXTRACTABLE)[0], 1);
      assert.throws(() => t.attribute(h, t.lib.CKA_VALUE), /CKR_ATTRIBUTE_SENSITIVE/);
    }
  } finally {
    t.close();
  }
});

test('ECDSA signatures are the DER TUF clients verify; Ed25519 keys when asked for', async () => {
  const ec = await store(tokens[0]!).create('timestamp');
  for (let i = 0; i < 20; i++) {
    // Twenty signatures: r or s with a high first bit needs a leading zero in DER.
    const message = Buffer.from(`message ${i}`);
    assert.ok(verifyKeySignature(ec.publicKey, await ec.sign(message), message));
  }
  const s = store(tokens[1]!, { keyType: 'ed25519' });
  const key = await s.create('timestamp');
  assert.equal(key.publicKey.keytype, 'ed25519');
  const message = Buffer.from('canonical bytes of a timestamp');
  assert.ok(verifyKeySignature(key.publicKey, await key.sign(message), message));
  assert.ok(!verifyKeySignature(key.publicKey, await key.sign(message), Buffer.from('other bytes')));
});

test('a missing library, a missing token and a wrong PIN are refused with their own codes', async () => {
  const code = async (s: Pkcs11KeyStore) => {
    const err = await s.list('snapshot').then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof Pkcs11Error, String(err));
    return err.code;
  };
  assert.equal(await code(store(tokens[3]!, { pin: '000000' })), 'pkcs11_pin_incorrect');
  assert.equal(await code(store(tokens[3]!, { label: 'no-such-token' })), 'pkcs11_token_missing');
  assert.equal(await code(store(tokens[3]!, { modulePath: path.join(dir, 'missing.so') })), 'pkcs11_module_unavailable');
  // The same through the operator command, which names the code and never prints the PIN.
  const env = { ...tokens[3]!.env, TUF_HOME: dir, PKCS11_PIN: '000000' };
  const wrong = await runCli('server/main.ts', ['online-keys', 'show'], env);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /\[pkcs11_pin_incorrect\]/);
  assert.ok(!wrong.stderr.includes('000000') && !wrong.stdout.includes('000000'), 'the PIN is never printed');
  const missing = await runCli('server/main.ts', ['online-keys', 'show'], {
    ...env,
    PKCS11_PIN: tokens[3]!.pin,
    PKCS11_TOKEN_LABEL: 'gone',
  });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /\[pkcs11_token_missing\]/);
});

test('the server signs snapshot and timestamp in the token; online-keys rotate adds a key there; clients follow the rotation', async () => {
  const t = tokens[2]!;
  const db = await createTestDatabase();
  let server: ServerProcess | null = null;
  try {
    const knex = createKnex(db.url, 1);
    await migrateLatest(knex);
    const token = await new AdminTokens(knex).create('pkcs11-test');
    recordSecret(token);
    await knex.destroy();
    const env = { ...t.env, NODE_ENV: 'production', DATABASE_URL: db.url, TUF_HOME: dir, LOG_LEVEL: 'warn', VERIFY_WORKERS: '0' };
    const created = await runCli('server/main.ts', ['online-keys', 'create'], env);
    assert.equal(created.status, 0, created.stderr);
    const online = JSON.parse(created.stdout) as { snapshot: TufKey; timestamp: TufKey };
    assert.ok(!fs.existsSync(path.join(dir, '.data', 'online-keys')), 'no key file was written');

    const rootKey = generatePrivateKey('ed25519');
    const targetsKey = generatePrivateKey('ed25519');
    const rootSpec = (version: number, timestampKey: TufKey) =>
      rootSigned({
        version,
        expires: expiresAfter(new Date(), DEFAULT_ROOT_EXPIRY_SECONDS),
        rootKeys: [privateKeySigner(rootKey).publicKey],
        rootThreshold: 1,
        targetsKeys: [privateKeySigner(targetsKey).publicKey],
        targetsThreshold: 1,
        snapshotKey: online.snapshot,
        timestampKey,
      });
    const root = await signEnvelope(rootSpec(1, online.timestamp), [privateKeySigner(rootKey)]);
    const targets = await signEnvelope(initialTargetsSigned(new Date()), [privateKeySigner(targetsKey)]);
    server = await startServerProcess(env);
    const post = (route: string, body: unknown) =>
      fetch(`${server!.url}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
    const boot = await post('/admin/bootstrap', { root, targets });
    assert.equal(boot.status, 201, await boot.text());

    const clientDir = path.join(dir, 'client');
    fs.mkdirSync(path.join(clientDir, 'targets'), { recursive: true });
    fs.writeFileSync(path.join(clientDir, 'root.json'), JSON.stringify(root));
    const refresh = () =>
      new Updater({
        metadataDir: clientDir,
        metadataBaseUrl: `${server!.url}/metadata`,
        targetDir: path.join(clientDir, 'targets'),
        targetBaseUrl: `${server!.url}/targets`,
      }).refresh();
    await refresh();
    const signedBy = async (file: string) =>
      ((await (await fetch(`${server!.url}/metadata/${file}`)).json()) as Envelope).signatures.map((s) => s.keyid);
    const keyidOf = (key: TufKey) =>
      Object.entries(root.signed.keys as Record<string, TufKey>).find(([, k]) => k.keyval.public === key.keyval.public)![0];
    assert.deepEqual(await signedBy('timestamp.json'), [keyidOf(online.timestamp)]);
    assert.deepEqual(await signedBy('1.snapshot.json'), [keyidOf(online.snapshot)]);

    // Rotation: a new timestamp key in the token, then a root naming it.
    const rotated = await runCli('server/main.ts', ['online-keys', 'rotate', 'timestamp'], env);
    assert.equal(rotated.status, 0, rotated.stderr);
    const newKey = (JSON.parse(rotated.stdout) as { timestamp: TufKey }).timestamp;
    assert.notEqual(newKey.keyval.public, online.timestamp.keyval.public);
    const shown = JSON.parse((await runCli('server/main.ts', ['online-keys', 'show'], env)).stdout) as { timestamp: TufKey };
    assert.equal(shown.timestamp.keyval.public, newKey.keyval.public, 'show prints the newest key');
    const root2 = await signEnvelope(rootSpec(2, newKey), [privateKeySigner(rootKey)]);
    const pushed = await post('/admin/metadata/root', root2);
    assert.equal(pushed.status, 201, await pushed.text());
    await refresh();
    const newKeyid = Object.entries(root2.signed.keys as Record<string, TufKey>).find(
      ([, k]) => k.keyval.public === newKey.keyval.public,
    )![0];
    assert.deepEqual(await signedBy('timestamp.json'), [newKeyid], 'the timestamp is signed with the rotated key');
  } finally {
    await server?.stop();
    await db.drop();
  }
});
