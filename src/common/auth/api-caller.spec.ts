import { roleFromClaim } from './api-caller';

describe('roleFromClaim', () => {
  it.each([
    [['admin'], 'admin'],
    ['admin', 'admin'],
    ['service admin', 'admin'],
    [['service'], 'service'],
    ['reader,service', 'service'],
    [['players'], 'client'],
    [undefined, 'client'],
    [42, 'client'],
    [[{ admin: true }], 'client'],
  ])('%j → %s', (claim, role) => {
    expect(roleFromClaim(claim)).toBe(role);
  });
});
