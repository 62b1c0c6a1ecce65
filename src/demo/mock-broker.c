/*
 * kafkatrace-mock-broker: a real Kafka wire-protocol endpoint for tests and demos, built on
 * librdkafka's mock cluster (rdkafka_mock.h). It listens on real TCP sockets on 127.0.0.1, so
 * kafkatrace's syscall capture sees exactly what it would see against a real broker.
 *
 *   kafkatrace-mock-broker [--brokers N] [--topic NAME:PARTITIONS[:REPLICATION]]... [--no-stdin]
 *
 * Prints the bootstrap address ("127.0.0.1:PORT,...") on one line on stdout, then serves until
 * stdin reaches end of file (so a parent that dies, even by SIGKILL, takes the broker with it) or
 * SIGTERM / SIGINT / SIGHUP arrives. --no-stdin serves until a signal only (for background use).
 * A line "errors APIKEY CODE[,CODE...]" on stdin makes the cluster answer the next requests of
 * that API with those error codes, one each (tests inject failures so); "ok" or "error: WHY" on
 * stdout answers each line.
 * Exit status: 0 after a clean stop, 2 for a usage error, 1 when the cluster cannot be created.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define MAX_TOPICS 64

struct topic_spec {
  const char *name;
  int partitions;
  int replication;
};

static void usage(const char *why) {
  fprintf(stderr,
          "kafkatrace-mock-broker: %s\n"
          "usage: kafkatrace-mock-broker [--brokers N] [--topic NAME:PARTITIONS[:REPLICATION]]... "
          "[--no-stdin]\n",
          why);
  exit(2);
}

/* A whole decimal number in [min, max], or -1. */
static int parse_int(const char *s, int min, int max) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
  return (int)v;
}

/* NAME:PARTITIONS[:REPLICATION]; NAME is cut in place (the argv string is ours to modify). */
static int parse_topic(char *arg, struct topic_spec *t) {
  char *colon = strchr(arg, ':');
  if (colon == NULL || colon == arg) return -1;
  *colon = '\0';
  char *parts = colon + 1;
  char *colon2 = strchr(parts, ':');
  t->replication = 1;
  if (colon2 != NULL) {
    *colon2 = '\0';
    t->replication = parse_int(colon2 + 1, 1, 1000);
    if (t->replication < 0) return -1;
  }
  t->partitions = parse_int(parts, 1, 100000);
  if (t->partitions < 0) return -1;
  t->name = arg;
  return 0;
}

/* One line of stdin: "errors APIKEY CODE[,CODE...]". */
static void command(rd_kafka_mock_cluster_t *mcluster, char *text) {
  char *save = NULL;
  const char *verb = strtok_r(text, " ", &save);
  const char *key = strtok_r(NULL, " ", &save);
  char *codes = strtok_r(NULL, " ", &save);
  if (verb == NULL || strcmp(verb, "errors") != 0 || key == NULL || codes == NULL ||
      strtok_r(NULL, " ", &save) != NULL) {
    printf("error: expected errors APIKEY CODE[,CODE...]\n");
    fflush(stdout);
    return;
  }
  int api_key = parse_int(key, 0, 32767);
  rd_kafka_resp_err_t errs[64];
  size_t cnt = 0;
  char *csave = NULL;
  for (char *c = strtok_r(codes, ",", &csave); c != NULL; c = strtok_r(NULL, ",", &csave)) {
    int code = parse_int(c, 0, 32767);
    if (code < 0 || cnt == sizeof errs / sizeof errs[0]) {
      api_key = -1;
      break;
    }
    errs[cnt++] = (rd_kafka_resp_err_t)code;
  }
  if (api_key < 0) {
    printf("error: bad API key or error code (at most 64 codes)\n");
  } else {
    rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)api_key, cnt, errs);
    printf("ok\n");
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  int brokers = 1;
  int watch_stdin = 1;
  struct topic_spec topics[MAX_TOPICS];
  int ntopics = 0;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) {
      brokers = parse_int(argv[++i], 1, 64);
      if (brokers < 0) usage("--brokers takes a number from 1 to 64");
    } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
      if (ntopics == MAX_TOPICS) usage("too many --topic options");
      if (parse_topic(argv[++i], &topics[ntopics]) != 0)
        usage("--topic takes NAME:PARTITIONS[:REPLICATION] with positive numbers");
      ntopics++;
    } else if (strcmp(argv[i], "--no-stdin") == 0) {
      watch_stdin = 0;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage("a librdkafka mock Kafka cluster on 127.0.0.1");
    } else {
      usage("unknown or incomplete argument");
    }
  }
  for (int i = 0; i < ntopics; i++)
    if (topics[i].replication > brokers) usage("a topic's replication exceeds the broker count");

  /* Block the stop signals before librdkafka starts its threads, so that they all inherit the mask
   * and the signals are only ever consumed through the signalfd below. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGHUP);
  sigprocmask(SIG_BLOCK, &stop, NULL);
  /* A closed stdout pipe must not kill us with SIGPIPE before a clean shutdown. */
  signal(SIGPIPE, SIG_IGN);
  /* Belt and braces with the stdin watch: a parent that dies takes us along. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
  if (sfd < 0) {
    perror("kafkatrace-mock-broker: signalfd");
    return 1;
  }

  /* The mock cluster needs an rd_kafka_t for its own bookkeeping; this one never connects. */
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "kafkatrace-mock-broker: %s\n", errstr);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == NULL) {
    fprintf(stderr, "kafkatrace-mock-broker: cannot create a librdkafka handle: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (mcluster == NULL) {
    fprintf(stderr, "kafkatrace-mock-broker: cannot create the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  for (int i = 0; i < ntopics; i++) {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, topics[i].name,
                                                         topics[i].partitions, topics[i].replication);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fprintf(stderr, "kafkatrace-mock-broker: cannot create topic %s: %s\n", topics[i].name,
              rd_kafka_err2str(err));
      rd_kafka_mock_cluster_destroy(mcluster);
      rd_kafka_destroy(rk);
      return 1;
    }
  }

  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
  fflush(stdout);

  char line[1024];
  size_t used = 0;
  struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
  nfds_t nfds = watch_stdin ? 2 : 1;
  for (;;) {
    if (poll(fds, nfds, -1) < 0) {
      if (errno == EINTR) continue;
      perror("kafkatrace-mock-broker: poll");
      break;
    }
    if (fds[0].revents & POLLIN) break;
    if (nfds == 2 && fds[1].revents) {
      ssize_t n = read(STDIN_FILENO, line + used, sizeof line - 1 - used);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
      if (n < 0) continue;
      used += (size_t)n;
      line[used] = '\0';
      char *nl;
      while ((nl = strchr(line, '\n')) != NULL) {
        *nl = '\0';
        command(mcluster, line);
        used -= (size_t)(nl + 1 - line);
        memmove(line, nl + 1, used + 1);
      }
      /* A line longer than the buffer is no command of ours. */
      if (used == sizeof line - 1) used = 0;
    }
  }

  /* Closing the listeners is all a clean stop needs; rd_kafka_destroy() would wait a second or two
   * for the bookkeeping handle's idle threads, which the process exit ends anyway. */
  rd_kafka_mock_cluster_destroy(mcluster);
  fflush(stdout);
  _exit(0);
}
