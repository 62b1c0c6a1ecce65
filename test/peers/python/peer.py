"""Python clients as test peers (test/helpers/real-kafka.ts runs this in build/peers/python's venv).

    peer.py CLIENT produce BOOTSTRAP TOPIC PARTITIONS COUNT SEED ID

CLIENT is confluent-kafka or kafka-python. Like the Java peer (test/peers/java), it prints its own
account as JSON lines: {"event":"client",...} first, a "delivery" line per record (topic, partition,
offset, bytes, or error), then {"event":"produced","acked":...,"failed":...}. COUNT records of seeded
random sizes (1..1000 bytes) go to seeded random partitions, idempotent where the client offers it.
"""
import json
import random
import sys


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def produce_confluent(bootstrap, topic, partitions, count, rnd, client_id):
    import confluent_kafka

    emit("client", name="confluent-kafka", version=confluent_kafka.version()[0], librdkafka=confluent_kafka.libversion()[0])
    tally = {"acked": 0, "failed": 0}
    p = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "client.id": client_id, "enable.idempotence": True, "linger.ms": 5})

    def report(err, msg, size):
        if err is not None:
            tally["failed"] += 1
            emit("delivery", topic=msg.topic(), partition=msg.partition(), error=str(err))
        else:
            tally["acked"] += 1
            emit("delivery", topic=msg.topic(), partition=msg.partition(), offset=msg.offset(), bytes=size)

    for i in range(count):
        partition = rnd.randrange(partitions)
        value = rnd.randbytes(1 + rnd.randrange(1000))
        while True:
            try:
                p.produce(topic, value, key=f"k{i}".encode(), partition=partition,
                          on_delivery=lambda err, msg, size=len(value): report(err, msg, size))
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(30)
    emit("produced", **tally)


def produce_kafka_python(bootstrap, topic, partitions, count, rnd, client_id):
    import kafka

    emit("client", name="kafka-python", version=kafka.__version__)
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, acks="all", linger_ms=5, enable_idempotence=True)
    futures = []
    for i in range(count):
        partition = rnd.randrange(partitions)
        value = rnd.randbytes(1 + rnd.randrange(1000))
        futures.append((partition, len(value), producer.send(topic, value=value, key=f"k{i}".encode(), partition=partition)))
    producer.flush(30)
    tally = {"acked": 0, "failed": 0}
    for partition, size, f in futures:
        try:
            md = f.get(timeout=30)
            tally["acked"] += 1
            emit("delivery", topic=md.topic, partition=md.partition, offset=md.offset, bytes=size)
        except Exception as e:  # a failed delivery is part of the report, not a crash
            tally["failed"] += 1
            emit("delivery", topic=topic, partition=partition, error=str(e))
    producer.close()
    emit("produced", **tally)


def main(argv):
    if len(argv) != 9 or argv[2] != "produce" or argv[1] not in ("confluent-kafka", "kafka-python"):
        print(__doc__, file=sys.stderr)
        return 2
    _, client, _, bootstrap, topic, partitions, count, seed, client_id = argv
    rnd = random.Random(int(seed))
    run = produce_confluent if client == "confluent-kafka" else produce_kafka_python
    run(bootstrap, topic, int(partitions), int(count), rnd, client_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
