// The CLI ships bundled: loading chevrotain's (and lodash-es's) hundreds of small modules one by one
// costs half a second of start-up. Running a script loads the entry chunk alone (main imports the
// runtime statically); the compiler, the REPL and the exporter land in chunks of their own.
// CommonJS, because bin/kafkatrace.js compiles the chunks through V8's code cache (vm.Script
// cachedData), which node 20 offers for CommonJS only. kafkatrace.mjs re-exports main for ES
// module importers.
import { defineConfig } from 'rolldown';

const ESM_ENTRY = `// ES module face of the CommonJS bundle (bin/kafkatrace.js loads kafkatrace.cjs through V8's code cache).
import { createRequire } from 'node:module';

export const { main } = createRequire(import.meta.url)('./kafkatrace.cjs');
`;

export default defineConfig({
  input: { kafkatrace: 'dist/src/cli/main.js' },
  platform: 'node',
  plugins: [
    {
      name: 'esm-entry',
      generateBundle() {
        this.emitFile({ type: 'asset', fileName: 'kafkatrace.mjs', source: ESM_ENTRY });
      },
    },
  ],
  output: {
    dir: 'dist/bundle',
    format: 'cjs',
    sourcemap: true,
    entryFileNames: '[name].cjs',
    chunkFileNames: '[name]-[hash].cjs',
    // Everything main imports statically in one chunk: no module shared with a lazy chunk is split off.
    codeSplitting: { groups: [{ name: 'run', tags: ['$initial'] }] },
  },
});
