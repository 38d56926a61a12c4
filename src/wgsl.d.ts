// WGSL kernel sources are imported as text: esbuild's `text` loader in the bundle,
// and a small plugin in vitest.config.ts for tests.
declare module '*.wgsl' {
  const source: string;
  export default source;
}

// wgsl_reflect's `main` entry is a CommonJS file inside a `"type": "module"` package, which Node
// cannot load; its ES module build has the same API.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
