// Type-aware lint: the rules that catch real bugs in async Node code (floating promises,
// non-exhaustive switches over unions), not style; formatting is left to the editor.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'logs/**', 'coverage/**', 'assets/**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='process'][callee.property.name='exit']",
          message: 'Only src/cli/main.ts may call process.exit().',
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/core/redis.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'ioredis', message: "Import Redis from core/redis.ts: it puts String.prototype back in fast mode after ioredis's String subclass." }] },
      ],
      // Node defines these on globalThis as getters: every use of the global is a LoadGlobalIC
      // miss and a getter call, even in optimized code (measured on the router's request path).
      // The module's own export is a plain binding.
      'no-restricted-globals': [
        'error',
        { name: 'Buffer', message: "import { Buffer } from 'node:buffer' (the global is a getter, slow on hot paths)." },
        { name: 'performance', message: "import { performance } from 'node:perf_hooks' (the global is a getter, slow on hot paths)." },
        { name: 'process', message: "import process from 'node:process' (the global is a getter, slow on hot paths)." },
      ],
    },
  },
  {
    files: ['src/cli/main.ts', 'bin/**', 'scripts/**', 'bench/**', 'test/fixtures/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly' },
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // node:test's describe/it return promises that the runner awaits itself.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', name: ['describe', 'it', 'test', 'suite'], package: 'node:test' }] }],
    },
  },
);
