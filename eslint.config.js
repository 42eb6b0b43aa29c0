import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The layer order of app/ (README, Architecture): entry points (http/, ws/, jobs/) call services/,
 * services/ call domain/ and data/, schemas/ is the request vocabulary every layer may use. The
 * import-x resolver maps the `.js` specifiers to the `.ts` sources, so every import is checked
 * (an unresolved import would pass silently). test/layers.test.ts proves the rule fires.
 */
const entryPoints = ['./app/http', './app/ws', './app/jobs'];
const layerZones = [
  ...['./app/data', './app/services', './app/domain', './app/schemas'].map((target) => ({
    target,
    from: entryPoints,
    message: 'data/, services/, domain/ and schemas/ sit below the entry points (http/, ws/, jobs/).',
  })),
  {
    target: './app/domain',
    from: ['./app/data', './app/services'],
    message: 'domain/ is pure rules: it reads no repository and calls no use-case.',
  },
  {
    target: './app/data',
    from: ['./app/services'],
    message: 'data/ is called by services/, never the other way round.',
  },
  {
    target: './app/schemas',
    from: ['./app/data', './app/services'],
    message: 'schemas/ is the vocabulary of requests; it depends on no layer that uses it.',
  },
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'infra/policy-pack/dist/',
      '.data/',
      '.tools/',
      '.test-data/',
      'coverage/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['app/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })] },
    rules: { 'import-x/no-restricted-paths': ['error', { zones: layerZones }] },
  },
  {
    // CLI entry points and scripts talk to a human on stdout.
    files: [
      'app/main.ts',
      'app/local/local-stack.ts',
      'scripts/**',
      'loadtests/**',
      'bench/**',
      'infra/ops/**',
    ],
    rules: { 'no-console': 'off' },
  },
  {
    // Tests and k6 scripts assert on dynamic JSON bodies and report measurements.
    files: ['test/**', 'loadtests/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'no-console': 'off' },
  },
);
