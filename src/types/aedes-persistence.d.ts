/** aedes-persistence ships the in-memory persistence's class (the one Aedes uses by default) without a typed entry point. */
declare module 'aedes-persistence/asyncPersistence.js' {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the typings are `export =`
  import MemoryPersistence = require('aedes-persistence/types/asyncPersistence');
  export = MemoryPersistence;
}
