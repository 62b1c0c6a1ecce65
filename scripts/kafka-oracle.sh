#!/usr/bin/env bash
# Runs the Kafka oracle (test/e2e/kafka-oracle.test.ts) over many seeds while developing: per seed
# and at the end, the exchanges, partitions and generations compared and the mismatches by kind,
# with the workload of each seed that had one. As root, after npm run build.
#   scripts/kafka-oracle.sh [SEEDS [LAG_SEEDS [GROUP_SEEDS]]]   seed lists like 1-200 (the defaults: 1-200, 1-20, 1-20)
set -euo pipefail
cd "$(dirname "$0")/.."
export ORACLE_SEEDS="${1:-${ORACLE_SEEDS:-1-200}}" ORACLE_LAG_SEEDS="${2:-${ORACLE_LAG_SEEDS:-1-20}}" ORACLE_GROUP_SEEDS="${3:-${ORACLE_GROUP_SEEDS:-1-20}}" ORACLE_PROGRESS=1
exec npx vitest run test/e2e/kafka-oracle.test.ts
