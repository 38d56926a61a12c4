import { defineConfig, type Plugin } from 'vitest/config';

/** Loads `*.wgsl` files as text modules (esbuild's `text` loader does the same in the bundle). */
function wgslText(): Plugin {
  return {
    name: 'wgsl-text',
    transform(code, id) {
      return id.endsWith('.wgsl') ? { code: `export default ${JSON.stringify(code)};`, map: null } : null;
    },
  };
}

export default defineConfig({
  plugins: [wgslText()],
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // GPU tests share one software adapter with 2 cores: run files one at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
