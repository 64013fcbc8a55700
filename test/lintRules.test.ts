// The layering the lint rules hold: each forbidden arrow is refused, and the allowed one passes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ESLint } from 'eslint';

const eslint = new ESLint();

async function problems(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => String(m.ruleId));
}

const cases: [string, string, string, boolean][] = [
  ['server/http/x.ts', "import { getHead } from '../db/metadataRepo.ts';\nexport const x = getHead;\n", 'http imports db', false],
  [
    'server/http/x.ts',
    "import type { ProjectService } from '../projects/projectService.ts';\nexport type X = ProjectService;\n",
    'http imports a service',
    true,
  ],
  [
    'server/serving/x.ts',
    "import { Publication } from '../publication/publication.ts';\nexport const x = Publication;\n",
    'read side imports the write side',
    false,
  ],
  [
    'server/projects/x.ts',
    "export async function f(db: { raw(s: string): Promise<unknown> }) {\n  return db.raw('select 1');\n}\n",
    'raw SQL outside db/',
    false,
  ],
  [
    'server/cluster/x.ts',
    "import { getHead } from '../db/metadataRepo.ts';\nexport const x = getHead;\n",
    'the process supervisor reaches into the database',
    false,
  ],
  ['server/cluster/x.ts', "import { serveRepository } from '../serve.ts';\nexport const x = serveRepository;\n", 'a worker serves', true],
  ['core/x.ts', "import fs from 'node:fs';\nexport const x = fs;\n", 'core reads files', false],
  ['core/x.ts', "import { Router } from 'express';\nexport const x = Router;\n", 'core imports express', false],
  ['core/x.ts', "import { createKnex } from '../server/db/knex.ts';\nexport const x = createKnex;\n", 'core imports the server', false],
  ['keys-offline/x.ts', "import http from 'node:http';\nexport const x = http;\n", 'the offline tool imports network code', false],
  ['keys-offline/x.ts', 'export const x = () => fetch("http://127.0.0.1/");\n', 'the offline tool fetches', false],
  [
    'client/x.ts',
    "import { loadConfig } from '../server/config.ts';\nexport const x = loadConfig;\n",
    'the client imports the server',
    false,
  ],
  [
    'server/db/x.ts',
    "import { MetadataCache } from '../serving/metadataCache.ts';\nexport const x = MetadataCache;\n",
    'db imports a server folder',
    false,
  ],
  [
    'server/objectStore/x.ts',
    "import { getHead } from '../db/metadataRepo.ts';\nexport const x = getHead;\n",
    'the S3 client imports the database (issue 20)',
    false,
  ],
  [
    'server/blobs/x.ts',
    "import { Publication } from '../publication/publication.ts';\nexport const x = Publication;\n",
    'target file storage imports the write side',
    false,
  ],
  [
    'server/mirror/x.ts',
    "import { MetadataCache } from '../serving/metadataCache.ts';\nexport const x = MetadataCache;\n",
    'the copy to a bucket imports the read side',
    false,
  ],
  [
    'server/mirror/x.ts',
    "import { ObjectBucket } from '../objectStore/bucket.ts';\nimport { BlobStore } from '../blobs/blobStore.ts';\nexport const x = [ObjectBucket, BlobStore];\n",
    'the copy to a bucket imports object storage and target files',
    true,
  ],
  ['core/x.ts', 'export const has = (o: object, k: string) => k in o;\n', 'a dynamic key with `in` (finds Object.prototype names)', false],
  ['server/projects/x.ts', 'export const has = (o: object, k: string) => k in o;\n', 'a dynamic key with `in` on the server', false],
  ['keys-offline/x.ts', "export const has = (o: object) => 'root' in o;\n", 'a literal key with `in`', true],
];

for (const [file, code, what, allowed] of cases) {
  test(`lint: ${what} is ${allowed ? 'allowed' : 'refused'}`, async () => {
    const found = await problems(file, code);
    if (allowed) assert.deepEqual(found, []);
    else
      assert.ok(
        found.some((r) => r === 'no-restricted-imports' || r === 'no-restricted-syntax' || r === 'no-restricted-globals'),
        `${file}: ${found.join(', ') || 'no problem reported'}`,
      );
  });
}

test('lint: a source file over 400 lines is refused, 400 lines pass', async () => {
  const { execFileSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tuf-lint-'));
  const file = (lines: number) => {
    const f = path.join(dir, `f${lines}.ts`);
    fs.writeFileSync(f, Array.from({ length: lines }, (_, i) => `// ${i}`).join('\n'));
    return f;
  };
  const script = path.join(import.meta.dirname, '..', 'scripts', 'checkFileSizes.mjs');
  execFileSync(process.execPath, [script, file(400)], { stdio: 'pipe' });
  assert.throws(
    () => execFileSync(process.execPath, [script, file(401)], { stdio: 'pipe' }),
    (err: { status?: number; stderr?: Buffer }) => err.status === 1 && /401 lines \(at most 400\)/.test(String(err.stderr)),
  );
  fs.rmSync(dir, { recursive: true, force: true });
});
