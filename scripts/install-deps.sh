#!/usr/bin/env bash
# Installs what kafkatrace needs on Debian 12, as root: the compiler and libbpf for BPF objects and the
# addon, bpftool to inspect what is loaded, librdkafka and kcat for the mock broker and a real client,
# tshark (its Kafka dissector is the oracle tests' witness), bpftrace to compare with, prometheus for
# exporter tests, Java, Maven and Python's venv for the Apache Kafka broker and its clients; then the
# npm dependencies (which builds the addon, the mock broker and the Kafka capture program, and a test
# client's librdkafka: a few minutes); then Apache Kafka and its clients (scripts/install-kafka.sh).
# With --agent, only what builds and runs kafkatrace itself (deploy/Containerfile's image): the
# compiler and libbpf, the npm dependencies without their own install scripts (the test clients'
# native builds), then kafkatrace's build; no test peers or witnesses.
set -euo pipefail
cd "$(dirname "$0")/.."
agent=false
case "${1:-}" in
  --agent) agent=true ;;
  "") ;;
  *) echo "usage: scripts/install-deps.sh [--agent]" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh must run as root (it installs Debian packages)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
build_packages=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make g++ python3)
test_packages=(librdkafka-dev kcat tshark bpftrace prometheus iproute2 procps openjdk-17-jdk-headless maven python3-venv)
if $agent; then
  apt-get install -y -qq --no-install-recommends "${build_packages[@]}" >/dev/null
  npm ci --no-audit --no-fund --ignore-scripts
  npm run install
  npm run build
  exit 0
fi
apt-get install -y -qq --no-install-recommends "${build_packages[@]}" "${test_packages[@]}" >/dev/null
# @confluentinc/kafka-javascript (a test client) would download a prebuilt binary, or its dependencies'
# sources, from GitHub: build it from its own librdkafka sources against the system's libraries instead.
export npm_config_build_from_source=true CKJS_LINKING=dynamic
npm ci --no-audit --no-fund
scripts/install-kafka.sh
