declare module "@parcel/watcher/wrapper.js" {
  export function createWrapper(binding: unknown): unknown;
}
