// Lint rules, and the layering they hold: which folder may import which. See docs/design-notes.md
// ("Map of the server") for what each folder owns.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NETWORK = [
  'node:http',
  'node:https',
  'node:net',
  'node:tls',
  'node:dgram',
  'http',
  'https',
  'net',
  'tls',
  'undici',
  'pg',
  'knex',
  'express',
];
const NETWORK_GLOBALS = ['fetch', 'WebSocket', 'XMLHttpRequest', 'EventSource'].map((name) => ({
  name,
  message: 'no network access from this folder',
}));

// `key in object` with a key that is not a literal also finds Object.prototype's names: a project,
// role, path or keyid called "constructor" or "toString" would be "present" in any object. Use
// Object.hasOwn, a Map or a null-prototype object (issue 19). Literal keys ('root' in body) are fine.
const DYNAMIC_IN = {
  selector: "BinaryExpression[operator='in'][left.type!='Literal']",
  message: 'a dynamic key with `in` also finds Object.prototype names (constructor, toString): use Object.hasOwn or a Map',
};

/** A no-restricted-imports rule from forbidden module names and path patterns, with a reason. */
function forbid(reason, { names = [], patterns = [] }) {
  return [
    'error',
    { paths: names.map((name) => ({ name, message: reason })), patterns: patterns.length ? [{ group: patterns, message: reason }] : [] },
  ];
}

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.dev/**', 'server/verifyWorker.mjs', 'server/treeWorker.mjs', 'bin/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        Buffer: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
        structuredClone: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        NodeJS: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
        Response: 'readonly',
        Headers: 'readonly',
        performance: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-imports': forbid('only tests import test code', { patterns: ['**/test/**'] }),
      eqeqeq: ['error', 'always'],
      'no-prototype-builtins': 'off',
      // An error's cause can carry what must not be logged (FulcioSigner puts the OIDC token in its
      // messages): rethrowing with a cleaned message and no cause is deliberate.
      'preserve-caught-error': 'off',
    },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('core/ is the pure TUF and TAP 18 domain: no files, network, database, HTTP or other folders', {
        names: [...NETWORK, 'node:fs', 'fs', 'node:fs/promises', 'node:child_process'],
        patterns: [
          '../server/**',
          '../client/**',
          '../keys-offline/**',
          '../maintainer/**',
          '../carry/**',
          '../platform/**',
          '../sigstore-local/**',
          '**/test/**',
        ],
      }),
      'no-restricted-globals': ['error', ...NETWORK_GLOBALS],
    },
  },
  {
    files: ['keys-offline/**/*.ts', 'platform/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('the offline tool runs on an air-gapped machine: no network code, no server code', {
        names: NETWORK,
        patterns: ['../server/**', '../client/**', '../carry/**', '../maintainer/**', '../sigstore-local/**', '**/test/**'],
      }),
      'no-restricted-globals': ['error', ...NETWORK_GLOBALS],
    },
  },
  {
    files: ['client/**/*.ts', 'maintainer/**/*.ts', 'carry/**/*.ts', 'auditor/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('tools talk to the server over HTTP only', {
        patterns: ['../server/**', '../keys-offline/**', '**/test/**'],
      }),
    },
  },
  {
    files: ['server/**/*.ts'],
    ignores: ['server/db/**'],
    rules: {
      // db/ owns PostgreSQL: SQL, locks, commit modes, NOTIFY/LISTEN.
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.property.name='raw'][callee.object.name!='express']", message: 'raw SQL belongs in server/db/' },
        DYNAMIC_IN,
      ],
    },
  },
  {
    files: ['server/http/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('routes only route: the HTTP layer calls services and the read side, never the database', {
        names: ['knex', 'pg'],
        patterns: ['../db/**', '**/server/db/**', '**/test/**'],
      }),
    },
  },
  {
    files: ['server/serving/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('the read side knows nothing of the write side (beyond serving/published.ts)', {
        patterns: ['../publication/**', '../admission/**', '../projects/**', '../admin/**', '../roles/**', '../http/**', '**/test/**'],
      }),
    },
  },
  {
    files: ['server/cluster/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('cluster/ supervises processes: it serves through serve.ts and knows no part of the repository', {
        names: ['knex', 'pg', 'express'],
        patterns: [
          '../db/**',
          '../publication/**',
          '../admission/**',
          '../projects/**',
          '../admin/**',
          '../roles/**',
          '../http/**',
          '../serving/**',
          '**/test/**',
        ],
      }),
    },
  },
  {
    files: ['server/db/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('db/ is the bottom layer of the server: it imports no other server folder', {
        patterns: [
          '../publication/**',
          '../admission/**',
          '../projects/**',
          '../admin/**',
          '../roles/**',
          '../http/**',
          '../serving/**',
          '**/test/**',
        ],
      }),
    },
  },
  {
    // Restore and recovery: the database's copies and the recovery publication, below the routes.
    files: ['server/recovery/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('recovery/ works through publication/ and db/, never through routes or the upload services', {
        patterns: ['../http/**', '../projects/**', '../admission/**', '**/test/**'],
      }),
    },
  },
  {
    // The PKCS#11 token: key handling only, no database, no HTTP.
    files: ['server/pkcs11/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('pkcs11/ talks to the token only', {
        names: ['knex', 'pg', 'express'],
        patterns: ['../db/**', '../http/**', '../publication/**', '../projects/**', '../admission/**', '../recovery/**', '**/test/**'],
      }),
    },
  },
  {
    files: ['transparency/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('transparency/ talks to transparency logs for the server and the tools: it imports core only', {
        patterns: [
          '../server/**',
          '../client/**',
          '../keys-offline/**',
          '../maintainer/**',
          '../carry/**',
          '../sigstore-local/**',
          '**/test/**',
        ],
      }),
    },
  },
  // Object storage (issue 20): the S3 client knows no other part of the server; target file storage
  // sits on db/ and objectStore/; the copy to a bucket reads db/ and target files, and knows nothing
  // of how publications are made or served.
  {
    files: ['server/objectStore/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('server/objectStore/ talks to S3-compatible storage only: no other server folder', {
        patterns: [
          '../db/**',
          '../blobs/**',
          '../mirror/**',
          '../publication/**',
          '../admission/**',
          '../projects/**',
          '../admin/**',
          '../roles/**',
          '../http/**',
          '../serving/**',
          '**/test/**',
        ],
      }),
    },
  },
  {
    files: ['server/blobs/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('server/blobs/ stores target files: db/ and objectStore/ only', {
        patterns: [
          '../mirror/**',
          '../publication/**',
          '../admission/**',
          '../projects/**',
          '../admin/**',
          '../roles/**',
          '../http/**',
          '../serving/**',
          '**/test/**',
        ],
      }),
    },
  },
  {
    files: ['server/mirror/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid('server/mirror/ copies what was published: db/, blobs/ and objectStore/ only', {
        patterns: [
          '../publication/**',
          '../admission/**',
          '../projects/**',
          '../admin/**',
          '../roles/**',
          '../http/**',
          '../serving/**',
          '**/test/**',
        ],
      }),
    },
  },
  // The read-only views (issue 15): they read the repository and never change it, and stay apart
  // from each other. Routes there may use the HTTP layer's error and schema helpers, nothing else of it.
  ...['monitor', 'console'].map((folder) => ({
    files: [`server/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': forbid(`server/${folder}/ is a read-only view: no write-side folder, no other view`, {
        patterns: [
          '../publication/**',
          '../admission/**',
          '../projects/**',
          '../roles/**',
          '../admin/**',
          folder === 'monitor' ? '../console/**' : '../monitor/**',
          '../http/**',
          '!../http/errors.ts',
          '!../http/schema.ts',
          '**/test/**',
        ],
      }),
    },
  })),
  {
    // The console's browser script: served as is (no build step), run in the page.
    files: ['server/console/assets/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { document: 'readonly', location: 'readonly', sessionStorage: 'readonly', Node: 'readonly', URLSearchParams: 'readonly' },
    },
  },
  {
    files: ['core/**/*.ts', 'keys-offline/**/*.ts', 'carry/**/*.ts', 'maintainer/**/*.ts', 'server/db/**/*.ts'],
    rules: { 'no-restricted-syntax': ['error', DYNAMIC_IN] },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'local-services/**/*.ts'],
    rules: { 'no-restricted-imports': 'off', 'no-restricted-syntax': 'off' },
  },
);
