/**
 * Whether Node backs AsyncLocalStorage with AsyncContextFrame: the default from Node 24, an opt-in
 * (`--experimental-async-context-frame`) on Node 22. Without it (Node 20, plain Node 22) AsyncLocalStorage
 * runs on promise hooks, which every promise of the process pays for: about a tenth of the CPU of a
 * request (docs/benchmarks.md). The request context that gives in-request log lines their `reqId` is
 * bound only when it is cheap; the access line and the error lines carry `reqId` either way.
 */
export function asyncContextFrameEnabled(
  nodeVersion = process.versions.node,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): boolean {
  const flags = [...execArgv, ...nodeOptions.split(/\s+/)];
  if (flags.includes('--no-async-context-frame') || flags.includes('--no-experimental-async-context-frame')) {
    return false;
  }
  const major = Number(nodeVersion.split('.')[0]);
  return major >= 24 || flags.includes('--experimental-async-context-frame') || flags.includes('--async-context-frame');
}
