// The kafka probes and their args, each arg declared once: its name, type and doc (the catalogue
// stdlib/kafka-probes.json, `-lv` and the README tables are generated from them), its unknown
// sentinel, where its value comes from (the common getter, the schema fields it is decoded or copied
// from, the tracker that fills it, whether another connection or process may supply it) and its
// fast-lane code. probes.ts, demand.ts, lane.ts, details.ts and the runtime's pushdown derive their
// tables from this one; test/unit/kafka-args.test.ts checks that every entry reaches the catalogue
// and a firing, with and without a demand, on both decoding paths.
// This module imports nothing, so every layer above the wire can read it.

/** The exchange fields common args are read from (a KafkaExchange has them). */
export interface ExchangeHead {
  api: string;
  api_key: number;
  version: number;
  correlation_id: number;
  client_id: string;
  role: string;
  status: string;
  latency: bigint | null;
  error: number | null;
  error_name: string | null;
  incomplete: boolean;
  request_bytes: number;
  response_bytes: number | null;
  connection: { laddr: string; lport: number; raddr: string; rport: number };
}

/**
 * How the fast lane (lane.ts) makes an arg: the JavaScript of its value, or of a number that, when
 * defined, is the value as a BigInt (an int64 the lane read as a number); when undefined, the arg
 * reads its unknown sentinel, or is absent without one. The code reads the pending request `P`, the
 * response scratch `X` at item `i` and the firing source `R` (lane.ts's Builder).
 */
export type LaneCode = string | { readonly present: string };

export interface LaneArg {
  readonly code: LaneCode;
  /** Lane captures (schema paths) made only when the arg is demanded. */
  readonly needs?: readonly string[];
}

/** Schema fields of a Produce or Fetch body an arg comes from: a demand for it decodes them. */
export interface BodyFields {
  readonly request?: readonly string[];
  readonly response?: readonly string[];
  /**
   * details.ts copies the arg's one field as is: into the exchange's details (the request's field,
   * else the response's, where the API's extractor left the arg unset), or into each item (Produce
   * and Fetch: from each partition of the response).
   */
  readonly copy?: 'exchange' | 'item';
}

/**
 * Where a per-item arg of an API other than Produce and Fetch comes from (details.ts walks it): schema
 * paths through one body's nested arrays to a field, e.g. 'Topics.Partitions.Timestamp'. The
 * innermost arrays the paths run through make the items (one per element), and a field of an outer
 * array goes to every item under it. A path ending in '[]' makes each element of that array (a value,
 * not a struct) an item, its value the arg's; one ending in '[0]' reads an array's first element, and
 * one ending in '#topic' reads a topic id as its topic's name (Metadata's, else the id; the nil id is
 * absent). Any other array or bytes field reads as its length. Of an arg's paths in one body, the
 * last one present wins; a response item's fields win over its request item's.
 */
export interface ItemFields {
  readonly request?: readonly string[];
  readonly response?: readonly string[];
  /** One of the args that tell items apart (see ProbeSpec.joinItems): always set, when absent to its unknown (a str: ''). */
  readonly key?: true;
  /** Where the item's own path has no field for it, the exchange's details give it (before the item is keyed). */
  readonly inherit?: true;
}

/** Where a Produce or Fetch firing's arg comes from: the bodies, and the lane's code (none: the lane declines it). */
export interface ItemSource {
  readonly body?: BodyFields;
  readonly lane?: LaneArg;
}

export interface ArgSpec extends ItemSource {
  readonly name: string;
  readonly type: 'int' | 'str';
  /** Most bytes of a str arg. */
  readonly size?: number;
  readonly doc: string;
  /** What the arg reads when its value was not seen; a str without one reads ''. */
  readonly unknown?: number | string;
  /** The tracker that fills the arg: a demand for it runs that tracker. */
  readonly tracker?: Tracker;
  /**
   * Where the value may come from besides the exchange's own connection: another connection of the
   * same process, or other processes' exchanges. A kernel filter must not drop those (kafka-source.ts).
   */
  readonly reach?: 'process' | 'machine';
  /** Given to the decoder's firings but not in the catalogue: scripts cannot name it. */
  readonly internal?: true;
  /** Where the arg of each item comes from (APIs other than Produce and Fetch). */
  readonly item?: ItemFields;
}

export type Tracker = 'lag' | 'rebalance';

/** An arg of every probe, read from the exchange; a firing's own fields override it. */
export interface CommonArg extends ArgSpec {
  readonly get: (ex: ExchangeHead) => bigint | string;
  /** Whether headers, frame sizes and the connection give it: kafka:request decodes no body for it. */
  readonly header: boolean;
  /** Produce and Fetch firings' own source of the arg, where it is per item. */
  readonly produce?: ItemSource;
  readonly fetch?: ItemSource;
}

export interface ProbeSpec {
  /** After `kafka:`. */
  readonly name: string;
  /** The Kafka API whose exchanges fire it; none for probes fired from every exchange or a tracker. */
  readonly api?: string;
  readonly doc: string;
  /** The tracker whose events fire it. */
  readonly tracker?: Tracker;
  /** Its own args, after the common ones. */
  readonly args: readonly ArgSpec[];
  /** Paths (as ItemFields') of each item's error code in the response: the item's error and error_name. */
  readonly itemError?: readonly string[];
  /** Items alike in every key arg are one: a later one (the response's) joins the earlier, its fields winning. */
  readonly joinItems?: true;
}

type More = Omit<ArgSpec, 'name' | 'type' | 'size' | 'doc'>;

function int(name: string, doc: string, more: More = {}): ArgSpec {
  return { name, type: 'int', doc, ...more };
}

function str(name: string, size: number, doc: string, more: More = {}): ArgSpec {
  return { name, type: 'str', size, doc, ...more };
}

/** What latency and response_bytes read without a response. */
const NO_RESPONSE = -1;

/** Who a request is between: the scope arg. */
export type Scope = 'client' | 'inter-broker' | 'controller';

/**
 * The scope of the APIs only brokers and controllers send, by API key (Kafka 4.4.0's schemas name
 * the listeners that serve each API). controller: the APIs only a controller serves (the KRaft quorum,
 * brokers' registration, heartbeats and partition changes) and the ZooKeeper-era controller requests;
 * inter-broker: transaction markers and share-group state sent to the share coordinator. The admin
 * APIs brokers and controllers both serve (DescribeQuorum, UpdateFeatures, AddRaftVoter, ...) are
 * clients'. Fetch, OffsetForLeaderEpoch, ListOffsets and AddPartitionsToTxn say it in their bodies
 * (details.ts's requestScope).
 */
export const API_SCOPES: Readonly<Record<number, Scope>> = {
  4: 'controller', 5: 'controller', 6: 'controller', 7: 'controller', // LeaderAndIsr, StopReplica, UpdateMetadata, ControlledShutdown
  27: 'inter-broker', // WriteTxnMarkers
  52: 'controller', 53: 'controller', 54: 'controller', // Vote, BeginQuorumEpoch, EndQuorumEpoch
  56: 'controller', 58: 'controller', 59: 'controller', // AlterPartition, Envelope, FetchSnapshot
  62: 'controller', 63: 'controller', 67: 'controller', // BrokerRegistration, BrokerHeartbeat, AllocateProducerIds
  70: 'controller', 73: 'controller', 82: 'controller', // ControllerRegistration, AssignReplicasToDirs, UpdateRaftVoter
  // InitializeShareGroupState, ReadShareGroupState, WriteShareGroupState, DeleteShareGroupState, ReadShareGroupStateSummary
  83: 'inter-broker', 84: 'inter-broker', 85: 'inter-broker', 86: 'inter-broker', 87: 'inter-broker',
};

/** Lane captures of the Produce request's and the Fetch response's records. */
const PRODUCE_RECORDS = ['TopicData.PartitionData.Records'];
const FETCH_RECORDS = ['Responses.Partitions.Records'];

export const COMMON_ARGS: readonly CommonArg[] = [
  {
    ...str('api', 32, 'API name as Kafka spells it, e.g. Produce, Fetch, JoinGroup'),
    get: (ex) => ex.api, header: true, lane: { code: 'R.api' },
  },
  {
    ...int('api_key', 'numeric API key'),
    get: (ex) => BigInt(ex.api_key), header: true, lane: { code: 'big(R.apiKey)' },
  },
  {
    ...int('version', 'API version of the request'),
    get: (ex) => BigInt(ex.version), header: true, lane: { code: 'big(P.version)' },
  },
  {
    ...int('correlation_id', 'correlation id pairing the request with its response'),
    get: (ex) => BigInt(ex.correlation_id), header: true, lane: { code: 'BigInt(P.id)' },
  },
  {
    ...str('client_id', 256, 'client id from the request header (empty when null)'),
    get: (ex) => ex.client_id, header: true, lane: { code: "P.clientId ?? ''" },
  },
  {
    ...int('latency', 'time from the request to its response, in nanoseconds; -1 when there was no response (status says why)', { unknown: NO_RESPONSE }),
    get: (ex) => ex.latency ?? BigInt(NO_RESPONSE), header: true, lane: { code: 'latency(P, R.meta)' },
  },
  {
    ...int('error', 'Kafka error code of the response (for per-partition probes, the partition error); 0 is success, and also what an exchange without a response reads (error_name is then empty)'),
    get: (ex) => BigInt(ex.error ?? 0), header: false,
    produce: { lane: { code: 'big(X.err[i])', needs: ['Responses.PartitionResponses.ErrorCode'] } },
    fetch: { lane: { code: 'big(X.err[i])', needs: ['Responses.Partitions.ErrorCode'] } },
  },
  {
    ...str('error_name', 64, 'Kafka error name, e.g. NONE, NOT_LEADER_OR_FOLLOWER, REBALANCE_IN_PROGRESS; empty when there was no response'),
    get: (ex) => ex.error_name ?? '', header: false,
    produce: { lane: { code: 'errorName(X.err[i])', needs: ['Responses.PartitionResponses.ErrorCode'] } },
    fetch: { lane: { code: 'errorName(X.err[i])', needs: ['Responses.Partitions.ErrorCode'] } },
  },
  {
    ...str('status', 16, 'how the exchange ended: complete (answered), no_response (acks=0 produce), closed (connection closed first) or timeout'),
    get: (ex) => ex.status, header: true, lane: { code: "'complete'" },
  },
  {
    ...int('incomplete', '1 when a value of this firing is unknown because bytes of the exchange were not captured or could not be decoded: a frame the capture cut short, a batch header not copied or malformed, a body of a version no schema knows. Produce and Fetch judge it per partition, other APIs per exchange; kafka:rebalance and kafka:member take it from the exchange they come from, kafka:lag too, and is 1 while its log end is only a lower bound. 0 otherwise: values absent by nature (no response, acks=0, a field the version lacks) read their unknown sentinel without it'),
    // An exchange the lane takes was read whole (its kafka:request firing's); its partitions say their own.
    get: (ex) => (ex.incomplete ? 1n : 0n), header: true, lane: { code: '0n' },
    produce: { body: { request: ['Records'] }, lane: { code: 'P.items[i].records < -1 ? 1n : 0n', needs: PRODUCE_RECORDS } },
    fetch: { body: { response: ['Records'] }, lane: { code: 'X.records[i] < -1 ? 1n : 0n', needs: FETCH_RECORDS } },
  },
  {
    ...str('role', 8, '"client" when the traced process sent the request, "broker" when it received it (from its connect() or accept() when the capture saw it, else from the first exchange paired)'),
    get: (ex) => ex.role, header: true, lane: { code: 'R.role' },
  },
  {
    ...str('laddr', 46, 'local IP address of the connection'),
    get: (ex) => ex.connection.laddr, header: true, lane: { code: 'R.info.laddr' },
  },
  {
    ...int('lport', 'local TCP port'),
    get: (ex) => BigInt(ex.connection.lport), header: true, lane: { code: 'big(R.info.lport)' },
  },
  {
    ...str('raddr', 46, 'remote IP address of the connection'),
    get: (ex) => ex.connection.raddr, header: true, lane: { code: 'R.info.raddr' },
  },
  {
    ...int('rport', 'remote TCP port'),
    get: (ex) => BigInt(ex.connection.rport), header: true, lane: { code: 'big(R.info.rport)' },
  },
  {
    // The lane's R.scope is Fetch's from its request's replica id and topics, as details.ts's requestScope.
    ...str('scope', 16, 'who the request is between: "client" (a client and a broker), "inter-broker" (a follower\'s Fetch or ListOffsets, its replica id >= 0; transaction markers; share-group state; AddPartitionsToTxn v4+) or "controller" (Fetch of __cluster_metadata, Vote, BeginQuorumEpoch, BrokerRegistration, BrokerHeartbeat, AlterPartition and the other APIs only controllers serve); per request, from its API and, for those that say it, its body (empty when that body was not decoded: bytes lost, a version no schema knows). APIs any client may send (ApiVersions, Metadata, ...) read "client" also between brokers and controllers; OffsetForLeaderEpoch reads empty, its body not being decoded'),
    get: (ex) => API_SCOPES[ex.api_key] ?? 'client', header: false, lane: { code: 'R.scope', needs: ['ReplicaId'] },
    fetch: { body: { request: ['ReplicaId', 'ReplicaState', 'Topic', 'TopicId'] } },
  },
  {
    ...int('request_bytes', 'size of the request frame in bytes'),
    get: (ex) => BigInt(ex.request_bytes), header: true, lane: { code: 'big(P.bytes)' },
  },
  {
    ...int('response_bytes', 'size of the response frame in bytes; -1 when there was no response', { unknown: NO_RESPONSE }),
    get: (ex) => BigInt(ex.response_bytes ?? NO_RESPONSE), header: true, lane: { code: 'big(R.bytes)' },
  },
];

/** An item's key read from the same paths of both bodies. */
function keyIn(...paths: string[]): ItemFields {
  return { request: paths, response: paths, key: true };
}

/** A Fetch request field details.ts copies into the exchange's details; not in the catalogue. */
function fetchSetting(name: string, field: string, doc: string): ArgSpec {
  return { ...(name === 'rack' ? str(name, 256, doc) : int(name, doc)), body: { request: [field], copy: 'exchange' }, internal: true };
}

export const PROBES: readonly ProbeSpec[] = [
  {
    name: 'request',
    doc: 'Every request/response exchange, whatever its API.',
    args: [],
  },
  {
    name: 'produce', api: 'Produce',
    doc: 'A Produce exchange, once per topic-partition written.',
    args: [
      str('topic', 256, 'topic name (resolved from the topic id on v13+ from a Metadata response seen or, on a broker, its log directories, else the id); empty when not captured', { unknown: '', lane: { code: 'P.items[i].topic' }, reach: 'process' }),
      int('partition', 'partition index; -1 when it was not captured (incomplete is then 1)', { unknown: -1, lane: { code: 'big(P.items[i].part)' } }),
      int('records', 'records in the partition\'s record batches, from their headers (0 for null data); -1 when a batch header was not copied or could not be read (incomplete is then 1)', {
        unknown: -1, body: { request: ['Records'] },
        // Null data counts 0 records; a batch header that could not be read leaves them unknown.
        lane: { code: 'P.items[i].records < -1 ? -1n : big(Math.max(P.items[i].records, 0))', needs: PRODUCE_RECORDS },
      }),
      int('offsets', 'offsets the partition\'s batches span, each batch\'s last offset delta + 1 (for producer batches, its records): base_offset + offsets is the partition\'s log end after this write; -1 when unknown, as records', {
        unknown: -1, body: { request: ['Records'] },
      }),
      int('bytes', 'bytes of record data for the partition (the records field\'s size); -1 when not captured', {
        unknown: -1, body: { request: ['Records'] }, lane: { code: 'big(P.items[i].bytes)', needs: PRODUCE_RECORDS },
      }),
      int('acks', 'required acks of the request: 0, 1 or -1 (all); -2 when not captured', {
        unknown: -2, body: { request: ['Acks'], copy: 'exchange' }, lane: { code: 'big(P.acks)' },
      }),
      int('base_offset', 'offset the broker assigned to the first record; -1 when there was no response (acks=0, connection closed, timeout), the partition failed, or its answer was not captured', {
        unknown: -1, body: { response: ['BaseOffset'], copy: 'item' },
        lane: { code: { present: 'X.base[i]' }, needs: ['Responses.PartitionResponses.BaseOffset'] },
      }),
      str('transactional_id', 256, 'transactional id (empty when the producer is not transactional, or it was not captured)', {
        body: { request: ['TransactionalId'], copy: 'exchange' },
      }),
    ],
  },
  {
    name: 'fetch', api: 'Fetch',
    doc: 'A Fetch exchange, once per topic-partition in the response.',
    args: [
      str('topic', 256, 'topic name (resolved from the topic id on newer versions from a Metadata response seen or, on a broker, its log directories)', { lane: { code: 'X.topic[i]' }, reach: 'process' }),
      int('partition', 'partition index; -1 when it was not captured (incomplete is then 1)', { unknown: -1, lane: { code: 'big(X.part[i])' } }),
      int('fetch_offset', 'offset the consumer asked to fetch from (for a partition a fetch session left out of the request, the one it last asked for on the connection); -1 when unknown', {
        unknown: -1, lane: { code: { present: 'X.fo[i]' } },
      }),
      int('high_watermark', 'partition high watermark in the response; -1 when there was no response or it was not captured', {
        unknown: -1, body: { response: ['HighWatermark'], copy: 'item' },
        lane: { code: { present: 'X.hw[i]' }, needs: ['Responses.Partitions.HighWatermark'] },
      }),
      int('last_stable_offset', 'last stable offset in the response; -1 when unknown (versions before 4 lack it)', {
        unknown: -1, body: { response: ['LastStableOffset'], copy: 'item' },
        lane: { code: { present: 'X.lso[i]' }, needs: ['Responses.Partitions.LastStableOffset'] },
      }),
      int('log_start_offset', 'log start offset in the response; -1 when unknown (versions before 5 lack it)', {
        unknown: -1, body: { response: ['LogStartOffset'], copy: 'item' },
        lane: { code: { present: 'X.lsto[i]' }, needs: ['Responses.Partitions.LogStartOffset'] },
      }),
      int('lag', 'high_watermark - fetch_offset: how far the consumer is behind; -1 when either is unknown', {
        unknown: -1, body: { response: ['HighWatermark'] }, lane: { code: { present: 'X.lag[i]' }, needs: ['Responses.Partitions.HighWatermark'] },
      }),
      int('time_lag', 'nanoseconds from the Produce of the record at fetch_offset to this fetch\'s response: on the first fetch of that offset, the record\'s time lag; on a later one, the age of the consumer\'s position; -1 when that Produce was not seen', {
        unknown: -1, tracker: 'lag', reach: 'machine',
      }),
      int('records', 'records returned for the partition, from the batch headers (0 for null data); -1 when a batch header was not copied or could not be read (incomplete is then 1)', {
        unknown: -1, body: { response: ['Records'] }, lane: { code: 'X.records[i] < -1 ? -1n : big(Math.max(X.records[i], 0))', needs: FETCH_RECORDS },
      }),
      int('bytes', 'bytes of record data returned for the partition; -1 when not captured', {
        unknown: -1, body: { response: ['Records'] }, lane: { code: 'big(X.bytes[i])', needs: FETCH_RECORDS },
      }),
      // From the group requests of the fetching client: decoded whenever any body is (demand.ts's STATE_APIS).
      str('group', 256, 'consumer group of the fetching client when known (from its group requests on the same process), else empty', { reach: 'process' }),
      int('replica', 'broker id of the follower replica that sent the Fetch, copying the partition (ReplicaId; ReplicaState.ReplicaId from v15): not a consumer, and never counted in consumer lag; -1 for a consumer; -2 when the request was not captured', {
        unknown: -2, body: { request: ['ReplicaId', 'ReplicaState'] }, lane: { code: 'big(P.replica)', needs: ['ReplicaId'] },
      }),
      fetchSetting('max_wait_ms', 'MaxWaitMs', 'most milliseconds the broker may wait for min_bytes'),
      fetchSetting('min_bytes', 'MinBytes', 'least bytes of record data the broker waits for'),
      fetchSetting('max_bytes', 'MaxBytes', 'most bytes of record data in the response (v3+)'),
      fetchSetting('isolation_level', 'IsolationLevel', '0 read uncommitted, 1 read committed (v4+)'),
      fetchSetting('session_id', 'SessionId', 'fetch session id (v7+)'),
      fetchSetting('session_epoch', 'SessionEpoch', 'fetch session epoch (v7+)'),
      fetchSetting('rack', 'RackId', 'rack of the consumer (v11+)'),
    ],
  },
  {
    name: 'listoffsets', api: 'ListOffsets',
    doc: 'A ListOffsets exchange, once per topic-partition.',
    args: [
      str('topic', 256, 'topic name (resolved from the topic id on newer versions from a Metadata response seen or, on a broker, its log directories)', { reach: 'process', item: keyIn('Topics.Name') }),
      int('partition', 'partition index', { unknown: -1, item: keyIn('Topics.Partitions.PartitionIndex') }),
      int('timestamp', 'timestamp asked for (-1 latest, -2 earliest)', { item: { request: ['Topics.Partitions.Timestamp'] } }),
      // Version 0 answers with a list of offsets, the first the one asked for.
      int('offset', 'offset returned; -1 when there was no response or it was not captured', {
        unknown: -1, item: { response: ['Topics.Partitions.Offset', 'Topics.Partitions.OldStyleOffsets[0]'] },
      }),
      int('leader_epoch', 'leader epoch of the offset returned (v4+)', { internal: true, item: { response: ['Topics.Partitions.LeaderEpoch'] } }),
    ],
    itemError: ['Topics.Partitions.ErrorCode'],
    joinItems: true,
  },
  {
    name: 'metadata', api: 'Metadata',
    doc: 'A Metadata exchange.',
    args: [
      int('topics', 'topics in the response; -1 without one', { unknown: -1 }),
      int('brokers', 'brokers in the response; -1 without one', { unknown: -1 }),
    ],
  },
  {
    name: 'offsetcommit', api: 'OffsetCommit',
    doc: 'An OffsetCommit exchange, once per topic-partition committed.',
    args: [
      str('group', 256, 'consumer group id', { item: { inherit: true } }),
      str('member', 256, 'member id assigned by the coordinator (empty on a first join)'),
      int('generation', 'group generation id; -1 when not captured', { unknown: -1 }),
      str('topic', 256, 'topic name (resolved from the topic id on newer versions from a Metadata response seen or, on a broker, its log directories)', { reach: 'process', item: keyIn('Topics.Name') }),
      int('partition', 'partition index', { unknown: -1, item: keyIn('Topics.Partitions.PartitionIndex') }),
      int('committed_offset', 'offset committed; -1 when not captured', { unknown: -1, item: { request: ['Topics.Partitions.CommittedOffset'] } }),
      int('committed_lag', 'log end of the partition (highest high watermark, ListOffsets latest or Produce end seen) minus the committed offset, once the commit is acknowledged; -1 when unknown', { unknown: -1, tracker: 'lag', reach: 'machine' }),
    ],
    itemError: ['Topics.Partitions.ErrorCode'],
    joinItems: true,
  },
  {
    name: 'offsetfetch', api: 'OffsetFetch',
    doc: 'An OffsetFetch exchange, once per topic-partition returned.',
    // Versions 8 and later answer per group, earlier ones for the request's one group.
    args: [
      str('group', 256, 'consumer group id', { item: { response: ['Groups.GroupId'], inherit: true } }),
      str('topic', 256, 'topic name (resolved from the topic id on newer versions from a Metadata response seen or, on a broker, its log directories)', { reach: 'process', item: { response: ['Topics.Name', 'Groups.Topics.Name'], key: true } }),
      int('partition', 'partition index', {
        unknown: -1, item: { response: ['Topics.Partitions.PartitionIndex', 'Groups.Topics.Partitions.PartitionIndex'], key: true },
      }),
      int('committed_offset', 'committed offset returned; -1 when none, or not seen', {
        unknown: -1, item: { response: ['Topics.Partitions.CommittedOffset', 'Groups.Topics.Partitions.CommittedOffset'] },
      }),
      int('leader_epoch', 'leader epoch of the committed offset (v5+)', {
        internal: true, item: { response: ['Topics.Partitions.CommittedLeaderEpoch', 'Groups.Topics.Partitions.CommittedLeaderEpoch'] },
      }),
    ],
    itemError: ['Topics.Partitions.ErrorCode', 'Groups.Topics.Partitions.ErrorCode'],
  },
  {
    name: 'findcoordinator', api: 'FindCoordinator',
    doc: 'A FindCoordinator exchange.',
    args: [
      str('key', 256, 'group id or transactional id looked up'),
      int('key_type', '0 for a group, 1 for a transaction'),
      int('node_id', 'coordinator broker id; -1 without a response', { unknown: -1 }),
      str('host', 256, 'coordinator host'),
      int('port', 'coordinator port; -1 without a response', { unknown: -1 }),
    ],
  },
  {
    name: 'joingroup', api: 'JoinGroup',
    doc: 'A JoinGroup exchange.',
    args: [
      str('group', 256, 'consumer group id'),
      str('member', 256, 'member id assigned by the coordinator (empty on a first join)'),
      int('generation', 'group generation id; -1 without a response (or when the join failed)', { unknown: -1 }),
      str('protocol_type', 64, 'protocol type, e.g. consumer'),
      str('protocol', 64, 'protocol chosen by the coordinator, e.g. range'),
      str('leader', 256, 'member id of the group leader'),
      int('members', 'members listed in the response (only the leader gets them; 0 for the others); -1 without a response', { unknown: -1 }),
      str('reason', 256, 'reason given by the client (v8+), else empty'),
    ],
  },
  {
    name: 'heartbeat', api: 'Heartbeat',
    doc: 'A Heartbeat exchange.',
    args: [
      str('group', 256, 'consumer group id'),
      str('member', 256, 'member id assigned by the coordinator (empty on a first join)'),
      int('generation', 'group generation id; -1 when not captured', { unknown: -1 }),
    ],
  },
  {
    name: 'leavegroup', api: 'LeaveGroup',
    doc: 'A LeaveGroup exchange.',
    args: [
      str('group', 256, 'consumer group id'),
      str('member', 256, 'member id assigned by the coordinator (empty on a first join)'),
      str('reason', 256, 'reason given by the client (v5+), else empty'),
    ],
  },
  {
    name: 'syncgroup', api: 'SyncGroup',
    doc: 'A SyncGroup exchange.',
    args: [
      str('group', 256, 'consumer group id'),
      str('member', 256, 'member id assigned by the coordinator (empty on a first join)'),
      int('generation', 'group generation id; -1 when not captured', { unknown: -1 }),
      str('protocol', 64, 'assignment protocol (v5+), else empty'),
      int('assignments', 'assignments sent (by the leader; 0 from the others); -1 when not captured', { unknown: -1 }),
      int('join_to_sync', 'nanoseconds from this member\'s first JoinGroup request of the round (its member-id-less first join and retries included) to this SyncGroup response, as seen on this connection; -1 when the JoinGroup was not seen or the SyncGroup failed', { unknown: -1, tracker: 'rebalance' }),
      int('join_time', 'like join_to_sync, but from the coordinator lookup that began the join when there was one (a FindCoordinator request for the group from the same process and client id, at most 1 s before the first JoinGroup): the join time clients such as kafkajs report', { unknown: -1, tracker: 'rebalance' }),
    ],
  },
  {
    name: 'describegroups', api: 'DescribeGroups',
    doc: 'A DescribeGroups exchange, once per group described.',
    args: [
      str('group', 256, 'consumer group id', { item: { response: ['Groups.GroupId'] } }),
      str('state', 32, 'group state, e.g. Stable, PreparingRebalance', { item: { response: ['Groups.GroupState'] } }),
      str('protocol_type', 64, 'protocol type, e.g. consumer', { internal: true, item: { response: ['Groups.ProtocolType'] } }),
      str('protocol', 64, 'assignment protocol', { item: { response: ['Groups.ProtocolData'] } }),
      int('members', 'members of the group; -1 when not seen', { unknown: -1, item: { response: ['Groups.Members'] } }),
    ],
    itemError: ['Groups.ErrorCode'],
  },
  {
    name: 'listgroups', api: 'ListGroups',
    doc: 'A ListGroups exchange.',
    args: [
      int('groups', 'groups in the response; -1 without one', { unknown: -1 }),
    ],
  },
  {
    name: 'apiversions', api: 'ApiVersions',
    doc: 'An ApiVersions exchange.',
    args: [
      str('client_software_name', 64, 'client software name (v3+), else empty'),
      str('client_software_version', 64, 'client software version (v3+), else empty'),
      int('api_count', 'API ranges in the response; -1 without one', { unknown: -1 }),
    ],
  },
  {
    name: 'initproducerid', api: 'InitProducerId',
    doc: 'An InitProducerId exchange.',
    args: [
      str('transactional_id', 256, 'transactional id (empty when the producer is not transactional)'),
      int('producer_id', 'producer id; -1 without a response', { unknown: -1 }),
      int('producer_epoch', 'producer epoch; -1 without a response', { unknown: -1 }),
    ],
  },
  {
    name: 'addpartitionstotxn', api: 'AddPartitionsToTxn',
    doc: 'An AddPartitionsToTxn exchange, once per topic-partition added.',
    // Versions 4 and later (brokers' batched requests) carry several transactions, earlier ones one.
    args: [
      str('transactional_id', 256, 'transactional id (empty when the producer is not transactional)', {
        item: { request: ['Transactions.TransactionalId'], response: ['ResultsByTransaction.TransactionalId'], key: true, inherit: true },
      }),
      int('producer_id', 'producer id'),
      int('producer_epoch', 'producer epoch'),
      str('topic', 256, 'topic name (resolved from the topic id on newer versions from a Metadata response seen or, on a broker, its log directories)', { reach: 'process', item: {
        request: ['V3AndBelowTopics.Name', 'Transactions.Topics.Name'],
        response: ['ResultsByTopicV3AndBelow.Name', 'ResultsByTransaction.TopicResults.Name'], key: true,
      } }),
      int('partition', 'partition index', { unknown: -1, item: {
        request: ['V3AndBelowTopics.Partitions[]', 'Transactions.Topics.Partitions[]'],
        response: ['ResultsByTopicV3AndBelow.ResultsByPartition.PartitionIndex', 'ResultsByTransaction.TopicResults.ResultsByPartition.PartitionIndex'], key: true,
      } }),
    ],
    itemError: ['ResultsByTopicV3AndBelow.ResultsByPartition.PartitionErrorCode', 'ResultsByTransaction.TopicResults.ResultsByPartition.PartitionErrorCode'],
    joinItems: true,
  },
  {
    name: 'endtxn', api: 'EndTxn',
    doc: 'An EndTxn exchange.',
    args: [
      str('transactional_id', 256, 'transactional id (empty when the producer is not transactional)'),
      int('producer_id', 'producer id'),
      int('producer_epoch', 'producer epoch'),
      int('committed', '1 for a commit, 0 for an abort; -1 when not captured', { unknown: -1 }),
    ],
  },
  {
    name: 'createtopics', api: 'CreateTopics',
    doc: 'A CreateTopics exchange, once per topic.',
    args: [
      str('topic', 256, 'topic name (resolved from the topic id on newer versions from a Metadata response seen or, on a broker, its log directories)', { reach: 'process', item: keyIn('Topics.Name') }),
      str('topic_id', 36, 'topic id the broker gave the topic (v7+)', { internal: true, item: { response: ['Topics.TopicId'] } }),
      int('partitions', 'partitions asked for (-1 for the broker default)', { item: { request: ['Topics.NumPartitions'], response: ['Topics.NumPartitions'] } }),
      int('replication_factor', 'replication factor asked for (-1 for the broker default)', {
        item: { request: ['Topics.ReplicationFactor'], response: ['Topics.ReplicationFactor'] },
      }),
    ],
    itemError: ['Topics.ErrorCode'],
    joinItems: true,
  },
  {
    name: 'deletetopics', api: 'DeleteTopics',
    doc: 'A DeleteTopics exchange, once per topic.',
    // Versions 6 and later name topics by name or id, earlier ones by name alone.
    args: [
      str('topic', 256, 'topic name (resolved from the topic id on newer versions from a Metadata response seen or, on a broker, its log directories)', { reach: 'process', item: {
        request: ['TopicNames[]', 'Topics.TopicId#topic', 'Topics.Name'], response: ['Responses.TopicId#topic', 'Responses.Name'], key: true,
      } }),
      str('topic_id', 36, 'topic id (v6+)', { internal: true, item: { request: ['Topics.TopicId'], response: ['Responses.TopicId'] } }),
    ],
    itemError: ['Responses.ErrorCode'],
    joinItems: true,
  },
  {
    name: 'consumergroupheartbeat', api: 'ConsumerGroupHeartbeat',
    doc: 'A ConsumerGroupHeartbeat exchange (the KIP-848 consumer protocol).',
    args: [
      str('group', 256, 'consumer group id'),
      str('member', 256, 'member id assigned by the coordinator (empty on a first join)'),
      int('member_epoch', 'member epoch in the response; -1 without one', { unknown: -1 }),
      int('assigned_partitions', 'partitions in the assignment of the response; -1 when it carries none (the assignment is unchanged) or there was no response', { unknown: -1 }),
    ],
  },
  {
    name: 'consumergroupdescribe', api: 'ConsumerGroupDescribe',
    doc: 'A ConsumerGroupDescribe exchange (a KIP-848 group described), once per group described.',
    args: [
      str('group', 256, 'consumer group id', { item: { response: ['Groups.GroupId'] } }),
      str('state', 32, 'group state, e.g. Stable, Assigning, Reconciling, Empty', { item: { response: ['Groups.GroupState'] } }),
      int('epoch', 'group epoch; -1 when not seen', { unknown: -1, item: { response: ['Groups.GroupEpoch'] } }),
      int('assignment_epoch', 'epoch of the group\'s target assignment (members at it are reconciled); -1 when not seen', { unknown: -1, item: { response: ['Groups.AssignmentEpoch'] } }),
      str('assignor', 64, 'server-side assignor, e.g. uniform', { item: { response: ['Groups.AssignorName'] } }),
      int('members', 'members of the group; -1 when not seen', { unknown: -1, item: { response: ['Groups.Members'] } }),
    ],
    itemError: ['Groups.ErrorCode'],
  },
  {
    name: 'sharegroupheartbeat', api: 'ShareGroupHeartbeat',
    doc: 'A ShareGroupHeartbeat exchange (a KIP-932 share group member).',
    args: [
      str('group', 256, 'share group id'),
      str('member', 256, 'member id (the client makes it)'),
      int('member_epoch', 'member epoch in the response (in the request without one; -1 leaving); -1 when not seen', { unknown: -1 }),
      int('assigned_partitions', 'partitions in the assignment of the response; -1 when it carries none (the assignment is unchanged) or there was no response', { unknown: -1 }),
      str('assignment', 256, 'the assignment of the response, e.g. orders[0,1] (topic ids resolved from a Metadata response seen or, on a broker, its log directories); empty when it carries none'),
    ],
  },
  {
    name: 'sharefetch', api: 'ShareFetch',
    doc: 'A ShareFetch exchange (a share group member acquiring records, and acknowledging earlier ones), once per topic-partition of the request or the response.',
    args: [
      str('group', 256, 'share group id'),
      str('member', 256, 'member id'),
      int('session_epoch', 'share session epoch of the request (0 opens a session, -1 closes it)'),
      str('topic', 256, 'topic name (resolved from the topic id from a Metadata response seen or, on a broker, its log directories, else the id)', { reach: 'process' }),
      int('partition', 'partition index', { unknown: -1 }),
      int('records', 'records the member acquired from the partition: the offsets of the response\'s acquired ranges (0 when a response seen whole leaves the partition out); -1 without a response', { unknown: -1 }),
      int('acquired_ranges', 'acquired ranges (first offset, last offset, delivery count) in the response (0 when a response seen whole leaves the partition out); -1 without a response', { unknown: -1 }),
      int('max_delivery_count', 'the highest delivery count of the acquired ranges (2 and more: records delivered again); -1 without one', { unknown: -1 }),
      int('bytes', 'bytes of record data returned for the partition (0 when a response seen whole leaves the partition out); -1 without a response', { unknown: -1 }),
      int('accepted', 'records the request acknowledged as processed (accept) for the partition', { unknown: -1 }),
      int('released', 'records the request gave back for another delivery (release)', { unknown: -1 }),
      int('rejected', 'records the request rejected as unprocessable (reject)', { unknown: -1 }),
      int('renewed', 'records whose acquisition lock the request renewed (renew, v2+)', { unknown: -1 }),
      int('ack_error', 'Kafka error code of the partition\'s acknowledgements in the response (0 when they were applied); -1 without one', { unknown: -1 }),
    ],
  },
  {
    name: 'shareacknowledge', api: 'ShareAcknowledge',
    doc: 'A ShareAcknowledge exchange (a share group member acknowledging records it acquired), once per topic-partition acknowledged.',
    args: [
      str('group', 256, 'share group id'),
      str('member', 256, 'member id'),
      int('session_epoch', 'share session epoch of the request (-1 closes the session)'),
      str('topic', 256, 'topic name (resolved from the topic id from a Metadata response seen or, on a broker, its log directories, else the id)', { reach: 'process' }),
      int('partition', 'partition index', { unknown: -1 }),
      int('accepted', 'records acknowledged as processed (accept)', { unknown: -1 }),
      int('released', 'records given back for another delivery (release)', { unknown: -1 }),
      int('rejected', 'records rejected as unprocessable (reject)', { unknown: -1 }),
      int('renewed', 'records whose acquisition lock was renewed (renew, v2+)', { unknown: -1 }),
    ],
  },
  {
    name: 'lag', tracker: 'lag',
    doc: 'A consumer group\'s lag on one topic-partition, whenever an exchange changes it: a new log end (Fetch high watermark, ListOffsets latest, acknowledged Produce), an acknowledged OffsetCommit or an OffsetFetch answer, or the group\'s next fetch offset. Values are -1 when unknown; the common args are those of the exchange that made the change.',
    args: [
      str('group', 256, 'consumer group id'),
      str('topic', 256, 'topic name'),
      int('partition', 'partition index', { unknown: -1 }),
      int('high_watermark', 'log end of the partition: the highest high watermark, ListOffsets latest offset or Produce end (base offset + offsets) seen; when that Produce\'s batch headers were not copied, base offset + 1, a lower bound, and incomplete is 1 (as are the lags) until an exact end reaches it', { unknown: -1 }),
      int('committed_offset', 'the group\'s latest committed offset', { unknown: -1 }),
      int('committed_lag', 'high_watermark - committed_offset', { unknown: -1 }),
      int('fetch_offset', 'offset of the group\'s latest fetch', { unknown: -1 }),
      int('lag', 'high_watermark - fetch_offset', { unknown: -1 }),
    ],
  },
  {
    name: 'rebalance', tracker: 'rebalance',
    doc: 'A consumer group rebalance, once per group generation however many of its members (and its broker) are traced. Classic protocol: every generation seen fires, also one whose SyncGroups all failed (a rejoin storm): complete when every member listed in the leader\'s JoinGroup response has its SyncGroup answered without error; otherwise a later generation, a LeaveGroup, 2 s without a new JoinGroup or SyncGroup answer of it (before its first SyncGroup answer, the rebalance timeout its JoinGroups asked for; checked as later exchanges are decoded) or the end of the session ends it with complete = 0. KIP-848 consumer protocol: a ConsumerGroupHeartbeat response that changes a member\'s epoch or assignment, once per change. The common args are those of the group\'s last exchange the event was seen on (its connection, role, process, error), whichever exchange was being decoded when it fired.',
    args: [
      str('kind', 16, '"classic" (JoinGroup/SyncGroup) or "consumer" (KIP-848 ConsumerGroupHeartbeat)'),
      str('group', 256, 'consumer group id'),
      int('generation', 'group generation id (classic), or the member\'s new epoch (consumer)'),
      int('previous_generation', 'consumer: the member\'s epoch before this change; classic: -1', { unknown: -1 }),
      str('member', 256, 'consumer: the member whose epoch or assignment changed; classic: empty'),
      int('members', 'classic: members of the generation: those listed in the leader\'s JoinGroup response when it was seen, else those seen joining it (a JoinGroup or SyncGroup of it, failed SyncGroups included); consumer: members of the group seen alive'),
      int('synced', 'classic: members whose SyncGroup succeeded; consumer: -1', { unknown: -1 }),
      int('sync_failed', 'classic: members whose SyncGroup failed (answered with an error); consumer: -1', { unknown: -1 }),
      str('sync_error', 64, 'classic: the error names of the failed SyncGroups, comma-separated (e.g. REBALANCE_IN_PROGRESS); empty when none failed'),
      int('complete', 'classic: 1 when every member listed in the leader\'s JoinGroup response had its SyncGroup answered without error, 0 when a SyncGroup failed or the list or an answer was not seen; consumer: 1 when the member reached a new epoch, 0 for an assignment change within its epoch'),
      int('duration', 'classic: nanoseconds from the first JoinGroup request of the round to the last SyncGroup response, -1 when no SyncGroup answer was seen; consumer: from the member\'s join (or first assignment change) to the epoch change, 0 otherwise', { unknown: -1 }),
      str('reason', 256, 'reason the member that started the round gave (JoinGroup v8+ or LeaveGroup v5+; "leave" for a LeaveGroup without one); consumer: "join" on a member\'s first assignment, else empty'),
      str('initiator', 256, 'classic: member that started the round (its first JoinGroup came first, or it left); consumer: empty'),
      str('protocol', 64, 'assignment protocol (classic) or server assignor (consumer) when known'),
      str('protocol_type', 64, 'classic: protocol type, e.g. consumer; consumer: "consumer"'),
      str('leader', 256, 'member id of the group leader (classic)'),
      int('joined', 'members new in this generation (first joins, or absent from the previous generation); consumer: 1 on a member\'s first assignment'),
      int('departed', 'members of the previous generation missing from this one (left or timed out); -1 unless the member lists of both generations were seen', { unknown: -1 }),
      str('assignment', 256, 'consumer: the member\'s assignment, e.g. orders[0,1] (topic ids resolved from a Metadata response seen or, on a broker, its log directories); classic: empty'),
      int('assigned_partitions', 'consumer: partitions in the member\'s assignment; classic: -1', { unknown: -1 }),
    ],
  },
  {
    name: 'member', tracker: 'rebalance',
    doc: 'A consumer group member event, once however many sides saw it: join (a first JoinGroup, or a KIP-848 join), leave (LeaveGroup, or a KIP-848 leave heartbeat), timeout (in the previous generation, gone from the next without leaving: its session expired), fenced (a heartbeat answered UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID or FENCED_MEMBER_EPOCH), rebalancing (a heartbeat answered REBALANCE_IN_PROGRESS) or heartbeat_error (any other heartbeat error). The common args (error included) are those of the exchange that showed it; for a join or a timeout, the generation\'s last exchange.',
    args: [
      str('group', 256, 'consumer group id'),
      str('member', 256, 'member id'),
      str('event', 16, 'join, leave, timeout, fenced, rebalancing or heartbeat_error'),
      int('generation', 'generation (classic) or member epoch (consumer) the event belongs to; -1 when unknown', { unknown: -1 }),
    ],
  },
];

const CATALOGUE_DOC = 'The kafka:* probes of kafkatrace. Each probe fires in user space on decoded Kafka exchanges; `args.NAME` reads its fields. Types: "int" is a signed 64-bit integer, "str" a string of at most `size` bytes. "unknown" is what an arg reads when its value was not seen (not captured, not decoded, absent from the version, or never sent); a string without one reads "" then. `api` names the Kafka API whose exchanges fire the probe; probes without one (request, rebalance) are derived from every exchange. Generated from src/kafka/probes/args.ts by scripts/gen-kafka-catalogue.mjs: edit the table there.';

/** One catalogue arg, on one line. */
function catalogueArg(a: ArgSpec): string {
  const entry: Record<string, string | number> = { name: a.name, type: a.type };
  if (a.size !== undefined) entry.size = a.size;
  entry.description = a.doc;
  if (a.unknown !== undefined) entry.unknown = a.unknown;
  return `{ ${Object.entries(entry).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')} }`;
}

function catalogueArgs(args: readonly ArgSpec[], indent: string): string {
  const listed = args.filter((a) => !a.internal);
  return listed.length === 0 ? '[]' : `[\n${listed.map((a) => indent + catalogueArg(a)).join(',\n')}\n${indent.slice(2)}]`;
}

/** stdlib/kafka-probes.json, the catalogue the front end reads: the table's args scripts can name. */
/** `versions` gives the versions decoded of an API (wire/schemas' decodedVersions; passed in, as this module imports nothing). */
export function catalogueJson(versions: (api: string) => readonly [number, number] | undefined): string {
  const probes = PROBES.map((p) => {
    const lines = [`"name": ${JSON.stringify(p.name)}`];
    if (p.api !== undefined) lines.push(`"api": ${JSON.stringify(p.api)}`);
    const decoded = p.api === undefined ? undefined : versions(p.api);
    if (decoded) lines.push(`"versions": "${decoded[0]}-${decoded[1]}"`);
    lines.push(`"description": ${JSON.stringify(p.doc)}`, `"args": ${catalogueArgs(p.args, '        ')}`);
    return `    {\n${lines.map((l) => `      ${l}`).join(',\n')}\n    }`;
  });
  return `{\n  "description": ${JSON.stringify(CATALOGUE_DOC)},\n  "common": ${catalogueArgs(COMMON_ARGS, '    ')},\n  "probes": [\n${probes.join(',\n')}\n  ]\n}\n`;
}
