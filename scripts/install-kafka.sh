#!/usr/bin/env bash
# Installs Apache Kafka and its clients as test peers, with Maven from Maven Central (no tarball):
# the broker, its tools and their dependencies into build/kafka/libs (scripts/kafka/pom.xml), and the
# Java client peer (test/peers/java) into build/peers/java-VERSION, built against the broker's
# kafka-clients and against the newest 3.x, whose Produce v11 names topics (4.x sends v13, topic ids);
# the Python peer's clients (confluent-kafka from its wheel, kafka-python) with pip into a venv,
# build/peers/python; the Go peer (franz-go and sarama, test/peers/go) through the Go module proxy into
# build/peers/go. Quick when nothing changed: a stamp keyed on the versions and the sources.
set -euo pipefail
cd "$(dirname "$0")/.."
# The newest Apache Kafka release on Maven Central (org.apache.kafka:kafka_2.13) when this was pinned.
KAFKA_VERSION=4.4.0
KAFKA3_CLIENTS_VERSION=3.9.2
PYTHON_CLIENTS="confluent-kafka==2.16.1 kafka-python==3.0.12"
stamp=build/kafka/installed
key="$(cat scripts/install-kafka.sh scripts/kafka/pom.xml test/peers/java/pom.xml \
  $(find test/peers/java/src test/peers/go -type f | sort) | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
  exit 0
fi
command -v java >/dev/null || { echo "install-kafka.sh: java (17 or newer) is needed" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install-kafka.sh: mvn (Maven) is needed" >&2; exit 1; }
command -v go >/dev/null || { echo "install-kafka.sh: go is needed" >&2; exit 1; }
rm -rf build/kafka build/peers/java-* build/peers/python build/peers/go
mvn -q -B -Dstyle.color=never -f scripts/kafka/pom.xml -Dkafka.version="$KAFKA_VERSION" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$PWD/build/kafka/libs"
for v in "$KAFKA_VERSION" "$KAFKA3_CLIENTS_VERSION"; do
  mvn -q -B -Dstyle.color=never -f test/peers/java/pom.xml -Dkafka.version="$v" -Dpeer.dir="$PWD/build/peers/java-$v" \
    package dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$PWD/build/peers/java-$v/libs"
done
python3 -m venv build/peers/python
# shellcheck disable=SC2086 # one argument per requirement
build/peers/python/bin/pip install -q --disable-pip-version-check --only-binary confluent-kafka $PYTHON_CLIENTS
(cd test/peers/go && go build -o ../../../build/peers/go/peer .)
echo "$KAFKA_VERSION" > build/kafka/version
echo "$KAFKA3_CLIENTS_VERSION" > build/kafka/clients3-version
echo "$key" > "$stamp"
