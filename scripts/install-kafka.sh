#!/usr/bin/env bash
# Installs Apache Kafka and its clients as test peers, with Maven from Maven Central (no tarball):
# the broker, its tools and their dependencies into build/kafka/libs (scripts/kafka/pom.xml), and the
# Java client peer into build/peers/java (test/peers/java). Quick when nothing changed: a stamp keyed on
# the version and the sources skips the work.
set -euo pipefail
cd "$(dirname "$0")/.."
# The newest Apache Kafka release on Maven Central (org.apache.kafka:kafka_2.13) when this was pinned.
KAFKA_VERSION=4.4.0
stamp=build/kafka/installed
key="$(cat scripts/install-kafka.sh scripts/kafka/pom.xml test/peers/java/pom.xml \
  $(find test/peers/java/src -type f | sort) | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ]; then
  exit 0
fi
command -v java >/dev/null || { echo "install-kafka.sh: java (17 or newer) is needed" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install-kafka.sh: mvn (Maven) is needed" >&2; exit 1; }
rm -rf build/kafka build/peers/java
mvn -q -B -f scripts/kafka/pom.xml -Dkafka.version="$KAFKA_VERSION" \
  dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$PWD/build/kafka/libs"
mvn -q -B -f test/peers/java/pom.xml -Dkafka.version="$KAFKA_VERSION" \
  package dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$PWD/build/peers/java/libs"
echo "$KAFKA_VERSION" > build/kafka/version
echo "$key" > "$stamp"
