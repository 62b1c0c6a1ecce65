// The script the demo runs: kafka-overview and kafka-rebalances in one, compiled through the normal
// pipeline. Its printf records are read back by format (events.ts), so the formats live here.

/** printf formats of the records the view turns into log lines, as the runtime hands them over. */
export const EVENT_FORMATS = {
  rebalance: 'rebalance %s %d %d %d\n',
  join: 'join %s %s %s %d\n',
  leave: 'leave %s %s %s\n',
} as const;

/** A format as a script string literal: the only character to escape in ours is the newline. */
function literal(format: string): string {
  return JSON.stringify(format);
}

// $1 is the demo broker's port and $2 the demo's group: other Kafka traffic on the machine stays
// out. The demo's clients and broker share this machine, so every exchange is seen from both ends;
// counting one side counts each exchange once: the broker's, except for Fetch, whose records Apache
// Kafka sends with sendfile(), past the capture, so the consumers' side counts them. Partitions
// whose figures were not captured (args.incomplete) are left out of the sums rather than summed as
// their unknown -1. kafka:rebalance is not filtered by role: the view counts its firings and keys
// rebalances by group and generation, whichever way it fires.
export const DEMO_SCRIPT = `// kafkatrace demo: traffic per topic and client, requests per API, consumer-group rebalances.
kafka:produce /args.role == "broker" && args.lport == $1 && args.incomplete == 0/
{
  @produce_bytes[args.topic] = sum(args.bytes);
  @produce_records[args.topic] = sum(args.records);
  @producer_records[args.client_id] = sum(args.records);
}

kafka:fetch /args.role == "client" && args.rport == $1 && args.incomplete == 0/
{
  @fetch_bytes[args.topic] = sum(args.bytes);
  @fetch_records[args.topic] = sum(args.records);
  @consumer_records[args.client_id] = sum(args.records);
}

kafka:request /args.role == "broker" && args.lport == $1/
{
  @requests[args.api] = count();
  @latency_us[args.api] = avg(args.latency / 1000);
}

kafka:rebalance /args.group == $2/
{
  @rebalance_firings[args.group] = count();
  printf(${literal(EVENT_FORMATS.rebalance)}, args.group, args.generation, args.members, args.duration / 1000000);
}

kafka:joingroup /args.role == "broker" && args.lport == $1 && args.error == 0/
{
  printf(${literal(EVENT_FORMATS.join)}, args.group, args.member, args.client_id, args.generation);
}

kafka:leavegroup /args.role == "broker" && args.lport == $1/
{
  printf(${literal(EVENT_FORMATS.leave)}, args.group, args.member, args.client_id);
}
`;
