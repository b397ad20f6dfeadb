/** class-transformer's metadata store (where `@Type` is recorded): shipped, but typed only under `types/`. */
declare module 'class-transformer/cjs/storage' {
  export { defaultMetadataStorage } from 'class-transformer/types/storage';
}
