// API key → name, for every key Kafka 4.4.0 defines and those 4.x removed (from the schemas'
// converter, scripts/gen-kafka-schemas.mjs); only some of them have bodies kafkatrace decodes.
import { SCHEMA_API_NAMES } from './schemas/generated.js';

const NAMES = new Map<number, string>(Object.entries(SCHEMA_API_NAMES).map(([k, v]) => [Number(k), v]));

/** The API's name (e.g. "Produce"), or undefined for a key Kafka does not define. */
export function apiName(apiKey: number): string | undefined {
  return NAMES.get(apiKey);
}

export const API_KEYS = {
  Produce: 0, Fetch: 1, ListOffsets: 2, Metadata: 3, ControlledShutdown: 7, OffsetCommit: 8, OffsetFetch: 9,
  FindCoordinator: 10, JoinGroup: 11, Heartbeat: 12, LeaveGroup: 13, SyncGroup: 14, DescribeGroups: 15,
  ListGroups: 16, SaslHandshake: 17, ApiVersions: 18, CreateTopics: 19, DeleteTopics: 20, InitProducerId: 22,
  OffsetForLeaderEpoch: 23, AddPartitionsToTxn: 24, EndTxn: 26, SaslAuthenticate: 36, ConsumerGroupHeartbeat: 68,
  ConsumerGroupDescribe: 69, ShareGroupHeartbeat: 76, ShareGroupDescribe: 77, ShareFetch: 78, ShareAcknowledge: 79,
} as const;
