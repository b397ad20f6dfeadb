/**
 * Tests against real services (RabbitMQ): `npm run test:service`, after
 * scripts/ensure-test-services.sh. Kept out of `npm test` so that one needs no
 * RabbitMQ; same transform settings as the e2e project of jest.config.js.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

const e2e = base.projects.find((project) => project.displayName === 'e2e');

module.exports = {
  testTimeout: 300_000,
  projects: [{ ...e2e, displayName: 'service', testMatch: ['<rootDir>/test/service/**/*.service-spec.ts'] }],
};
