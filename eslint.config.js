// Lint: zero warnings, typed rules, and the layer rule of DESIGN.md ("Layers"):
// a layer may import only the layers below it; the core runs in a browser.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const upper = {
  lib: ['machine', 'kernel', 'devices', 'drivers', 'check', 'trace', 'scenarios', 'cli', 'web'],
  machine: ['kernel', 'devices', 'drivers', 'check', 'trace', 'scenarios', 'cli', 'web'],
  kernel: ['devices', 'drivers', 'check', 'trace', 'scenarios', 'cli', 'web'],
  devices: ['kernel', 'drivers', 'check', 'trace', 'scenarios', 'cli', 'web'],
  drivers: ['check', 'trace', 'scenarios', 'cli', 'web'],
  check: ['devices', 'drivers', 'trace', 'scenarios', 'cli', 'web'],
  trace: ['scenarios', 'cli', 'web'],
  scenarios: ['cli', 'web'],
};
const core = ['lib', 'machine', 'kernel', 'devices', 'drivers', 'check'];
const nodeOnly = ['fs', 'path', 'os', 'child_process', 'process', 'worker_threads', 'util', 'url'];

const layerRules = Object.entries(upper).map(([layer, forbidden]) => ({
  files: [`src/${layer}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...forbidden.map((f) => ({
            group: [`**/${f}/**`, `**/${f}`],
            message: `Bad layering: src/${layer} may not import src/${f} (DESIGN.md "Layers").`,
          })),
          ...(core.includes(layer)
            ? [
                {
                  group: ['node:*', ...nodeOnly],
                  message: 'The core must run in a browser: Node-only modules belong in src/cli.',
                },
              ]
            : []),
        ],
      },
    ],
  },
}));

const determinism = {
  files: core.map((l) => `src/${l}/**/*.ts`),
  rules: {
    'no-restricted-globals': [
      'error',
      { name: 'process', message: 'Core code must not use Node globals.' },
      { name: 'Buffer', message: 'Use Uint8Array.' },
      { name: 'setTimeout', message: 'Use the machine Clock to schedule events.' },
      { name: 'setInterval', message: 'Use the machine Clock to schedule events.' },
    ],
    'no-restricted-properties': [
      'error',
      { object: 'Math', property: 'random', message: 'Use the seeded Rng of the machine.' },
      { object: 'Date', property: 'now', message: 'Use the machine Clock (simulated ns).' },
      { object: 'performance', property: 'now', message: 'Use the machine Clock (simulated ns).' },
    ],
  },
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': [
        'error',
        { allowConstantLoopConditions: true },
      ],
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/naming-convention': [
        'error',
        { selector: 'default', format: ['camelCase'], leadingUnderscore: 'forbid' },
        { selector: 'variable', format: ['camelCase', 'UPPER_CASE'] },
        { selector: 'parameter', format: ['camelCase'], leadingUnderscore: 'allow' },
        { selector: 'typeLike', format: ['PascalCase'] },
        { selector: 'enumMember', format: ['UPPER_CASE'] },
        {
          selector: ['objectLiteralProperty', 'objectLiteralMethod', 'typeProperty'],
          format: null,
        },
        { selector: 'import', format: null },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: 'error',
      'prefer-const': 'error',
    },
  },
  ...layerRules,
  determinism,
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
