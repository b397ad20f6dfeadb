#!/usr/bin/env node
// `npm start` runs this first: it builds only when a source file is newer than the last build,
// so an unchanged checkout starts in about a second instead of waiting for `nest build`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const STAMP = join(root, 'dist', '.build-stamp');
/** What the build reads: the sources and everything that changes how they compile. */
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json', 'package.json', 'package-lock.json'];

function newestMtime(path) {
  if (!existsSync(path)) {
    return 0;
  }
  const stat = statSync(path);
  if (!stat.isDirectory()) {
    return stat.mtimeMs;
  }
  let newest = stat.mtimeMs; // a deleted file changes its folder's mtime
  for (const entry of readdirSync(path)) {
    newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

/** True when there is no build yet, or some input changed after it. */
export function isStale() {
  if (!existsSync(STAMP)) {
    return true;
  }
  const built = statSync(STAMP).mtimeMs;
  return INPUTS.some((input) => newestMtime(join(root, input)) > built);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--stamp')) {
    // `npm run build` just built: record it, so the next `npm start` doesn't build again.
    writeFileSync(STAMP, `${new Date().toISOString()}\n`);
    process.exit(0);
  }
  if (process.argv.includes('--check')) {
    process.stdout.write(isStale() ? 'stale\n' : 'fresh\n');
    process.exit(0);
  }
  if (isStale()) {
    process.stderr.write('Building (sources changed since the last build)...\n');
    const started = Date.now();
    const result = spawnSync(process.execPath, [join(root, 'node_modules', '@nestjs', 'cli', 'bin', 'nest.js'), 'build'], { cwd: root, stdio: 'inherit' });
    if (result.status !== 0) {
      process.exit(result.status ?? 1);
    }
    // Written after a successful build only; its mtime is the build's time.
    writeFileSync(STAMP, `${new Date(started).toISOString()}\n`);
  }
}
