// The CLI ships bundled: loading chevrotain's (and lodash-es's) hundreds of small modules one by one
// costs half a second of start-up. Subcommands import their parts lazily, so the compiler lands in
// a chunk of its own that a cached run never loads.
import { defineConfig } from 'rolldown';

export default defineConfig({
  input: { kafkatrace: 'dist/src/cli/main.js' },
  platform: 'node',
  output: { dir: 'dist/bundle', format: 'esm', sourcemap: true, entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' },
});
