import { asyncContextFrameEnabled } from './request-context';

describe('asyncContextFrameEnabled', () => {
  it('is on by default from Node 24, off on Node 20 and 22', () => {
    expect(asyncContextFrameEnabled('24.1.0', [], '')).toBe(true);
    expect(asyncContextFrameEnabled('25.0.0', [], '')).toBe(true);
    expect(asyncContextFrameEnabled('22.12.0', [], '')).toBe(false);
    expect(asyncContextFrameEnabled('20.20.2', [], '')).toBe(false);
  });

  it("follows Node 22's opt-in flag, on the command line or in NODE_OPTIONS, and an opt-out on 24", () => {
    expect(asyncContextFrameEnabled('22.12.0', ['--experimental-async-context-frame'], '')).toBe(true);
    expect(asyncContextFrameEnabled('22.12.0', [], '--max-old-space-size=512 --experimental-async-context-frame')).toBe(true);
    expect(asyncContextFrameEnabled('24.1.0', ['--no-async-context-frame'], '')).toBe(false);
  });

  it('reads the running process by default', () => {
    const expected = Number(process.versions.node.split('.')[0]) >= 24 || process.execArgv.includes('--experimental-async-context-frame');
    expect(asyncContextFrameEnabled()).toBe(expected);
  });
});
