/*
 * The record kafka-capture.bpf.c writes on its `kafka_events` ring buffer, and its flags.
 * src/kafka/capture/record.ts decodes exactly this layout (little-endian, fixed offsets); change both together.
 */
#ifndef KAFKA_CAPTURE_H
#define KAFKA_CAPTURE_H

/* Bytes of data one record can carry at most; bigger runs are split across records. */
#define KC_REC_CAP 4096

#define KC_DIR_OUT 0
#define KC_DIR_IN 1

/* The first data byte is (assumed to be) the start of a frame: drop any partial frame held so far.
 * Set on a connection first seen mid-stream, after unparseable data, and after lost records. */
#define KC_F_RESYNC 1
/* The connection was closed; the record carries no data. */
#define KC_F_CLOSE 2
/* Records of this connection were lost (refused by the ring, or passed uncopied after one) since this
 * direction's previous record: in the direction that lost them, frames are missing before data[0]
 * (set with KC_F_RESYNC); in the other, the responses to lost requests may follow, answering nothing
 * user space saw. Both directions are told, because a response often comes before the request
 * direction's next record. */
#define KC_F_LOSS 4
/* The record's data is a struct kc_file, not stream bytes: the next kc_file.count bytes of this
 * direction (from `offset`, after `skipped` bytes) went by sendfile(2) from that file, and are whole
 * record batches of a walked Fetch response from a batch boundary on (or go on with the batch the
 * previous file record of this direction ended in, when they follow it directly). */
#define KC_F_FILE 8

/* How the capture met a connection: its end connect()ed (a Kafka client: requests go out) or
 * accept()ed (a broker: requests come in); unknown when first seen mid-stream. */
#define KC_ORIGIN_UNKNOWN 0
#define KC_ORIGIN_CONNECT 1
#define KC_ORIGIN_ACCEPT 2

/* The kafka_frames map: per direction (index dir * KC_FR_SLOTS + reason), frames counted once each by
 * what became of their size field. Only KC_FR_HANDED frames can reach user space. */
#define KC_FR_HANDED 0    /* its size field went out in a record */
#define KC_FR_RING 1      /* its size field was in a record the ring buffer refused */
#define KC_FR_AFTER_LOSS 2 /* its size field passed uncopied, right after a refused record */
#define KC_FR_TOO_MANY 3  /* passed uncopied: more frames in one syscall than the walk's steps */
#define KC_FR_DESYNC 4    /* not frames: syscall remainders skipped after an impossible size */
#define KC_FR_SLOTS 8

struct kc_event {
  __u64 ts;      /* 0: bpf_ktime_get_ns() (CLOCK_MONOTONIC) at the syscall's exit */
  __u64 conn;    /* 8: connection id: CLOCK_MONOTONIC ns when the connection was first seen */
  __u64 offset;  /* 16: stream offset of data[0] in this direction since the connection was seen */
  __u64 skipped; /* 24: bytes of this direction that passed uncopied since the previous record */
  __u32 pid;     /* 32: tgid */
  __u32 tid;     /* 36 */
  __u32 fd;      /* 40 */
  __u16 len;     /* 44: bytes of data */
  __u8 dir;      /* 46: KC_DIR_* */
  __u8 flags;    /* 47: KC_F_* */
  __u16 family;  /* 48: AF_INET or AF_INET6 */
  __u16 lport;   /* 50: host byte order */
  __u16 rport;   /* 52: host byte order */
  __u8 origin;   /* 54: KC_ORIGIN_* */
  __u8 pad;      /* 55 */
  __u8 laddr[16]; /* 56: IPv4 in the first 4 bytes (network order), or IPv6 */
  __u8 raddr[16]; /* 72 */
  char comm[16];  /* 88 */
  /* 104: data[len] */
};

/* The data of a KC_F_FILE record: where sendfile(2) read the bytes it sent. User space reads them back
 * through /proc/PID/fd/IN_FD, after checking that this fd still names the same file (dev, ino). */
struct kc_file {
  __u64 pos;   /* 0: file offset of the first byte sent */
  __u64 count; /* 8: bytes sent (stream bytes this record covers) */
  __u64 ino;   /* 16: the file's inode number */
  __u32 dev;   /* 24: its device, encoded as stat(2)'s st_dev */
  __s32 in_fd; /* 28: the sendfile's in_fd in the sending process */
  /* 32 */
};

/* The offsets above are what src/kafka/capture/record.ts reads (CAPTURE_AT, FILE_AT). */
_Static_assert(sizeof(struct kc_event) == 104, "kc_event is 104 bytes before its data");
_Static_assert(__builtin_offsetof(struct kc_event, comm) == 88, "kc_event.comm at 88");
_Static_assert(__builtin_offsetof(struct kc_event, laddr) == 56, "kc_event.laddr at 56");
_Static_assert(sizeof(struct kc_file) == 32, "kc_file is 32 bytes");
_Static_assert(__builtin_offsetof(struct kc_file, ino) == 16, "kc_file.ino at 16");
_Static_assert(__builtin_offsetof(struct kc_file, dev) == 24, "kc_file.dev at 24");
_Static_assert(__builtin_offsetof(struct kc_file, in_fd) == 28, "kc_file.in_fd at 28");

#endif
