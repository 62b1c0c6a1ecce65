// The plan as JSON. Integer literals in the ASTs of user-space probes are bigints, which JSON has no
// form for: they travel as {"$bigint": "123"} and come back as bigints.
import { KtError } from '../errors.js';
import type { Plan } from './types.js';

export function planToJson(plan: Plan, indent?: number): string {
  return JSON.stringify(plan, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v), indent);
}

export function planFromJson(text: string): Plan {
  let value: unknown;
  try {
    value = JSON.parse(text, (_k, v: unknown) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        const keys = Object.keys(v);
        const big = (v as { $bigint?: unknown }).$bigint;
        if (keys.length === 1 && typeof big === 'string') return BigInt(big);
      }
      return v;
    });
  } catch (e) {
    throw new KtError('plan-invalid', `the plan is not valid JSON: ${(e as Error).message}`);
  }
  const plan = value as Partial<Plan> | null;
  if (!plan || plan.version !== 1 || !Array.isArray(plan.probes) || !Array.isArray(plan.maps) || !Array.isArray(plan.events)) {
    throw new KtError('plan-invalid', 'the plan is not a kafkatrace plan of version 1');
  }
  return plan as Plan;
}
