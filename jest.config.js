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
  transform: {
    '^.+\\.ts$': tsJest,
    // aedes 1.x, jose 6 (jwks-rsa), content-disposition 3 (@fastify/static) and json-schema-ref-parser ship ES modules only; Node 20 loads them, jest needs them as CommonJS.
    '^.+\\.js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022', esModuleInterop: true }, isolatedModules: true, diagnostics: false }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(aedes|jose|content-disposition|@apidevtools/json-schema-ref-parser)/)'],
  testEnvironment: 'node',
};

module.exports = {
  // A ceiling, not a wait: tests wait for conditions. On a busy 2-core machine (load 7, and 20 seen) a cold
  // start (ts-jest compiling the app, the first TestApp, a child service: over a minute each) takes far over 30 s.
  testTimeout: 300_000,
  projects: [
    { ...common, displayName: 'unit', rootDir: '.', testMatch: ['<rootDir>/src/**/*.spec.ts'], setupFiles: ['<rootDir>/test/unit-setup.ts'] },
    {
      ...common,
      displayName: 'e2e',
      rootDir: '.',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
    },
  ],
};
