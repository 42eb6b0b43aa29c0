import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.data/', '.tools/', '.test-data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
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
