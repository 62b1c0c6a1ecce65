// API key → name. Keys the bundled schemas define come from them; the rest of Kafka's API keys are
// listed here so that their headers are still recognised (their bodies are never decoded).
import { SCHEMA_API_NAMES } from './schemas/generated.js';

const OTHER_API_NAMES: Readonly<Record<number, string>> = {
  4: 'LeaderAndIsr', 5: 'StopReplica', 6: 'UpdateMetadata', 7: 'ControlledShutdown',
  27: 'WriteTxnMarkers', 29: 'DescribeAcls', 30: 'CreateAcls', 31: 'DeleteAcls', 32: 'DescribeConfigs',
  33: 'AlterConfigs', 34: 'AlterReplicaLogDirs', 35: 'DescribeLogDirs', 37: 'CreatePartitions',
  38: 'CreateDelegationToken', 39: 'RenewDelegationToken', 40: 'ExpireDelegationToken',
  41: 'DescribeDelegationToken', 42: 'DeleteGroups', 43: 'ElectLeaders', 44: 'IncrementalAlterConfigs',
  45: 'AlterPartitionReassignments', 46: 'ListPartitionReassignments', 47: 'OffsetDelete',
  48: 'DescribeClientQuotas', 49: 'AlterClientQuotas', 50: 'DescribeUserScramCredentials',
  51: 'AlterUserScramCredentials', 52: 'Vote', 53: 'BeginQuorumEpoch', 54: 'EndQuorumEpoch',
  55: 'DescribeQuorum', 56: 'AlterPartition', 57: 'UpdateFeatures', 58: 'Envelope', 60: 'DescribeCluster',
  61: 'DescribeProducers', 62: 'BrokerRegistration', 63: 'BrokerHeartbeat', 64: 'UnregisterBroker',
  65: 'DescribeTransactions', 66: 'ListTransactions', 67: 'AllocateProducerIds',
  70: 'ControllerRegistration', 71: 'GetTelemetrySubscriptions', 72: 'PushTelemetry',
  73: 'AssignReplicasToDirs', 74: 'ListClientMetricsResources', 75: 'DescribeTopicPartitions',
};

const NAMES = new Map<number, string>(
  Object.entries({ ...OTHER_API_NAMES, ...SCHEMA_API_NAMES }).map(([k, v]) => [Number(k), v]),
);

/** The API's name (e.g. "Produce"), or undefined for a key Kafka does not define. */
export function apiName(apiKey: number): string | undefined {
  return NAMES.get(apiKey);
}

export const API_KEYS = {
  Produce: 0, Fetch: 1, ListOffsets: 2, Metadata: 3, ControlledShutdown: 7, OffsetCommit: 8, OffsetFetch: 9,
  FindCoordinator: 10, JoinGroup: 11, Heartbeat: 12, LeaveGroup: 13, SyncGroup: 14, DescribeGroups: 15,
  ListGroups: 16, SaslHandshake: 17, ApiVersions: 18, CreateTopics: 19, DeleteTopics: 20, InitProducerId: 22,
  OffsetForLeaderEpoch: 23, AddPartitionsToTxn: 24, EndTxn: 26, SaslAuthenticate: 36, ConsumerGroupHeartbeat: 68,
} as const;
