// Lookup of the generated message specs by API key.
import { MESSAGE_SPECS } from './generated.js';
import type { MessageSpec } from './spec.js';

const requests = new Map<number, MessageSpec>();
const responses = new Map<number, MessageSpec>();
for (const spec of MESSAGE_SPECS) (spec.kind === 'request' ? requests : responses).set(spec.key, spec);

export function requestSpec(apiKey: number): MessageSpec | undefined {
  return requests.get(apiKey);
}

export function responseSpec(apiKey: number): MessageSpec | undefined {
  return responses.get(apiKey);
}

const byName = new Map<string, MessageSpec>([...requests.values()].map((s) => [s.name, s]));

/** The versions of an API (by name) whose bodies kafkatrace decodes; undefined when it decodes none. */
export function decodedVersions(api: string): MessageSpec['valid'] | undefined {
  return byName.get(api)?.valid;
}

/** API keys whose bodies kafkatrace decodes. */
export function decodedApiKeys(): number[] {
  return [...requests.keys()].sort((a, b) => a - b);
}
