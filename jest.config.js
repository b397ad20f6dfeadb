/** @type {import('jest').Config} */
const tsJest = [
  'ts-jest',
  {
    tsconfig: 'tsconfig.check.json',
    // Same OpenAPI metadata in tests as in `nest build` (the swagger CLI plugin).
    astTransformers: { before: ['<rootDir>/test/swagger-transformer.js'] },
    diagnostics: false,
  },
];

const common = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
};

module.exports = {
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'unit', rootDir: '.', testMatch: ['<rootDir>/src/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'e2e',
      rootDir: '.',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
    },
  ],
};
