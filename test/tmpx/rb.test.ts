import { it } from 'vitest';
import { runGroupOracle, describeGroupWorkload } from '../helpers/rebalance-oracle.js';
it('x', { timeout: 1_800_000 }, async () => {
  for (const seed of (process.env.S ?? '1').split(',').map(Number)) {
    const r = await runGroupOracle(seed);
    console.log(describeGroupWorkload(r.workload), `unsettled ${r.unsettled} generations ${r.generations} compared ${r.compared} failedSyncs ${r.failedSyncs} allFailed ${r.allFailed}`);
    if (r.mismatches.length) console.log(r.detail); for (const m of r.mismatches) console.log(`  ${m.kind} (${m.role}) ${m.where}: kafkatrace ${m.kafkatrace}, truth ${m.truth}`);
  }
});
