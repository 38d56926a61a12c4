// WGSL kernel sources are imported as text: esbuild's `text` loader in the bundle,
// and a small plugin in vitest.config.ts for tests.
declare module '*.wgsl' {
  const source: string;
  export default source;
}
