// SPDX-License-Identifier: (BSD-2-Clause OR GPL-2.0-only)
/*
 * kafkatrace's Kafka capture program: follows TCP byte streams through syscall tracepoints only (no
 * kprobes, no fentry), tracks Kafka frames (`int32 size` + payload) per connection and direction, and
 * copies each frame to the `kafka_events` ring buffer, up to its first kt_head_bytes bytes (the
 * rest counts as `skipped`). The two frames that carry records are walked instead: Fetch responses
 * (v0-18) and Produce requests (v0-13) larger than kt_walk_bytes are followed to their end, every
 * topic, partition and record batch header copied and the records skipped, so that every
 * partition's offsets and counts reach user space while the bytes copied do not grow with the
 * records (see "Walked frames" below). Every other frame is small (requests, group and metadata
 * answers) and is copied whole, up to the head.
 *
 * Which sockets: any fd whose kernel socket is AF_INET/AF_INET6 SOCK_STREAM (and, when kt_netns is set,
 * belongs to that network namespace), found by walking the
 * task's fd table (CO-RE reads) the first time the fd is used, so connections opened before tracing
 * began are captured too (their first record is flagged KC_F_RESYNC: we join mid-stream, at the
 * first buffer sync_point takes for a frame start). connect/accept/accept4 learn connections from their first byte; close
 * forgets them. Each entry remembers the `struct file` it was learnt from, so an fd reused without
 * close (dup2, exec, a new process with a recycled pid) is noticed and relearnt.
 *
 * Data is read at syscall exit, where the return value says how many bytes moved; enter only saves
 * the arguments. sendfile moves bytes we cannot see: they advance the frame position, and when they are
 * record batches of a walked Fetch response (a broker serving a fetch from its log segment), a
 * KC_F_FILE record tells user space the file and offset they came from, to read them back.
 * MSG_PEEK reads are ignored (the data is read again later).
 *
 * Sync: both this program and src/kafka/wire/stream.ts treat a size below 4 or above the maximum as lost
 * sync. We then skip the rest of the syscall, and the buffers after it until sync_point takes one
 * for a frame start (its record is flagged KC_F_RESYNC); stream.ts restarts there too (within a record's copied bytes it searches
 * for the next frame itself). A record the ring buffer cannot take counts as skipped bytes, and
 * copying resumes at the next frame boundary, flagged KC_F_RESYNC | KC_F_LOSS; the other direction's
 * next record is flagged KC_F_LOSS, so that user space knows a response to nothing it saw answers a
 * lost request (rather than a sign of lost sync).
 *
 * Not followed: io_uring, splice, TLS contents (encrypted bytes never parse as frames), 32-bit
 * compat syscalls (the user structs below are the 64-bit ABI).
 * Configured before load through the read-only globals below (0 means "no filter" / "default").
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "kafka-capture.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* --- configuration (.rodata, set by the loader) --- */
const volatile __u32 kt_target_pid = 0;  /* tgid */
const volatile __u64 kt_cgroup_id = 0;   /* cgroup v2 id */
const volatile __u32 kt_netns = 0;       /* network namespace inode: sockets of other namespaces are never captured */
const volatile char kt_comm[16] = {};    /* exact comm */
const volatile __u16 kt_ports[8] = {};   /* local or remote port, any of the first kt_nports */
const volatile __u32 kt_nports = 0;
const volatile __u32 kt_head_bytes = 0;  /* bytes copied of a frame not walked, size field included; 0: 64 KiB */
const volatile __u32 kt_walk_bytes = 0;  /* Produce requests larger than this are walked, size field included; 0: 512 */
const volatile __u32 kt_max_frame = 0;   /* larger sizes mean lost sync; 0: 100 MiB */

#define DEFAULT_HEAD (64u << 10)
#define DEFAULT_WALK 512
#define DEFAULT_MAX_FRAME (100u << 20)
/* A response's correlation id; smaller sizes mean lost sync (src/kafka/wire/stream.ts agrees). */
#define MIN_FRAME 4
#define MAX_STEPS 32768 /* frame-tracking steps per buffer: enough for a 64 KiB read of tiny frames */
#define MAX_IOV 64
#define MAX_MMSG 16

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
#define MSG_PEEK 2

/* --- kernel types, CO-RE relocated: only the fields we read --- */
struct in6_addr {
  __u8 s6_addr[16];
};
struct ns_common {
  unsigned int inum;
} __attribute__((preserve_access_index));
struct net {
  struct ns_common ns;
} __attribute__((preserve_access_index));
/* The kernel's possible_net_t, an anonymous struct behind a typedef: CO-RE matches members by name. */
struct kt_possible_net {
  struct net *net;
} __attribute__((preserve_access_index));
struct sock_common {
  __be32 skc_daddr;
  __be32 skc_rcv_saddr;
  __be16 skc_dport;
  __u16 skc_num;
  unsigned short skc_family;
  struct in6_addr skc_v6_daddr;
  struct in6_addr skc_v6_rcv_saddr;
  struct kt_possible_net skc_net;
} __attribute__((preserve_access_index));
struct sock {
  struct sock_common __sk_common;
} __attribute__((preserve_access_index));
struct socket {
  short type;
  struct sock *sk;
} __attribute__((preserve_access_index));
struct super_block {
  __u32 s_dev;
} __attribute__((preserve_access_index));
struct inode {
  unsigned short i_mode;
  unsigned long i_ino;
  struct super_block *i_sb;
} __attribute__((preserve_access_index));
struct file {
  struct inode *f_inode;
  void *private_data;
  __s64 f_pos;
} __attribute__((preserve_access_index));
struct fdtable {
  unsigned int max_fds;
  struct file **fd;
} __attribute__((preserve_access_index));
struct files_struct {
  struct fdtable *fdt;
} __attribute__((preserve_access_index));
struct task_struct {
  struct files_struct *files;
} __attribute__((preserve_access_index));

/* --- user ABI (x86_64 / 64-bit) --- */
struct u_iovec {
  __u64 base;
  __u64 len;
};
struct u_msghdr {
  __u64 name;
  __u32 namelen;
  __u32 pad;
  __u64 iov;
  __u64 iovlen;
  __u64 control;
  __u64 controllen;
  __u32 flags;
  __u32 pad2;
};
struct u_mmsghdr {
  struct u_msghdr hdr;
  __u32 len;
  __u32 pad;
};
struct u_sockaddr_in {
  __u16 family;
  __be16 port;
  __u8 addr[4];
};
struct u_sockaddr_in6 {
  __u16 family;
  __be16 port;
  __u32 flowinfo;
  __u8 addr[16];
};

/* --- syscall tracepoint contexts (stable: see events/syscalls/<name>/format) --- */
struct sys_enter_ctx {
  __u64 common;
  __s64 nr;
  __u64 args[6];
};
struct sys_exit_ctx {
  __u64 common;
  __s64 nr;
  __s64 ret;
};

/* --- state --- */
/* Where the walk of a Fetch or ShareFetch response or a Produce request is (FetchResponse v0-18,
 * ShareFetchResponse v1-2, ProduceRequest v0-13). Bytes pass in this
 * order: `copy` bytes copied unparsed, `skip` bytes skipped, then `need` bytes copied and gathered
 * in `acc` (a varint grows `need` a byte at a time), then the state `st` parses `acc`. */
struct fetch_walk {
  __u64 copy;
  __u64 skip;
  __u64 records_left; /* bytes of the current records field not yet walked */
  __u32 topics_left;
  __u32 parts_left;
  __u32 entries_left; /* aborted transactions (Fetch) or acquired ranges (ShareFetch) of the partition */
  __u32 tags_left;
  __u8 st;       /* FW_* */
  __u8 tag_ret;  /* the state after a tagged-field section */
  __u8 version;
  __u8 flexible;
  __u8 need;
  __u8 have;
  __u8 varint;   /* `need` grows while the last byte has its continuation bit */
  __u8 produce;  /* walking a Produce request (else a Fetch or ShareFetch response) */
  __u8 share;    /* walking a ShareFetch response */
  __u8 req[4];   /* a request's api key and version, kept while its correlation id arrives */
  __u8 acc[32];  /* at most 12 bytes are gathered; the slack keeps masked copies in bounds */
};

/* Fetch requests seen in one direction, awaited in the other (pipelined: a few at a time). */
#define FETCH_PENDING 4
#define FETCH_SHARE 0x80
/* The correlation ids of a direction's latest frames read as requests: a buffer of the other
 * direction that starts with one of them starts a response (see sync_point). */
#define RECENT_CORR 8

struct dir_state {
  __u64 offset;    /* bytes of this direction seen */
  __u64 frame_end; /* stream offset where the current frame ends; <= offset: at a frame boundary */
  __u64 head_end;  /* bytes before this offset in the current frame are copied */
  __u64 skipped;   /* uncopied bytes since the last record */
  __u8 size_buf[4];
  __u8 size_have; /* bytes of a size field seen so far (it may straddle syscalls) */
  __u8 flags;     /* KC_F_* for the next record */
  __u8 lost;      /* a record was lost: copy nothing until the next frame boundary */
  __u8 desync;    /* an absurd size: skip to the end of this syscall, resync at the next */
  __u8 tentative; /* joined mid-stream or out of step: a buffer starts a frame only as sync_point says */
  __u8 fetch_next;
  __u8 recent_next;
  __u8 recent_fill; /* bit i: recent_corr[i] holds an id */
  __s32 fetch_corr[FETCH_PENDING];
  __s32 recent_corr[RECENT_CORR];
  __u8 fetch_ver[FETCH_PENDING]; /* the version + 1, | FETCH_SHARE for a ShareFetch; 0: free */
  struct fetch_walk fw;
};

struct conn {
  __u64 file; /* the struct file this entry was learnt from */
  __u64 id;
  __u32 fd;
  __u16 family;
  __u16 lport;
  __u16 rport;
  __u8 capture; /* a TCP socket that passes the port filter */
  __u8 origin;  /* KC_ORIGIN_* */
  __u8 laddr[16];
  __u8 raddr[16];
  struct dir_state dir[2];
};

struct conn_key {
  __u32 tgid;
  __u32 fd;
};

enum kind { K_BUF = 1, K_IOV, K_MSG, K_MMSG, K_SENDFILE, K_CONNECT, K_ACCEPT };

struct pending {
  __u64 ptr; /* buffer, iovec array, msghdr, mmsghdr array or sockaddr; sendfile: the in file's offset */
  __u64 len; /* buffer length or element count */
  __u32 fd;
  __u32 kind;
  __s32 in_fd; /* sendfile: the file sent from; -1 when its offset could not be read */
  __u32 pad;
};

/* The walk's changing variables live in this map value rather than on the stack: the verifier does
 * not track map contents, so bpf_loop callbacks converge at once instead of per distinct value. */
struct walk_vars {
  __u64 ubuf;
  __u64 left;
  __u64 iov;
  __u64 iov_cnt;
  __u64 iov_total; /* bytes the syscall moved, still to attribute to iovecs */
  __u64 vec;
  __u64 vec_cnt;
  __u32 dir;
  __u32 head;
  __u32 max_frame;
  __u32 walk; /* kt_walk_bytes */
  __u32 frames; /* size fields completed in the record being built */
  __u32 pad;
};

struct record {
  struct walk_vars v;
  struct kc_event hdr;
  __u8 data[2 * KC_REC_CAP]; /* twice the cap so that bounded copies at any offset < cap verify */
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} kafka_events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} kafka_lost SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2 * KC_FR_SLOTS);
  __type(key, __u32);
  __type(value, __u64);
} kafka_frames SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct conn_key);
  __type(value, struct conn);
} kafka_conns SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct pending);
} kafka_pending SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct record);
} kafka_scratch SEC(".maps");

/* --- filters --- */
static __always_inline int wanted(void) {
  __u64 id = bpf_get_current_pid_tgid();
  if (kt_target_pid && (__u32)(id >> 32) != kt_target_pid) return 0;
  if (kt_cgroup_id && bpf_get_current_cgroup_id() != kt_cgroup_id) return 0;
  if (kt_comm[0]) {
    char comm[16];
    bpf_get_current_comm(comm, sizeof comm);
    for (int i = 0; i < 16; i++) {
      if (comm[i] != kt_comm[i]) return 0;
      if (comm[i] == 0) break;
    }
  }
  return 1;
}

static __always_inline int port_wanted(__u16 lport, __u16 rport) {
  if (kt_nports == 0) return 1;
  for (int i = 0; i < 8; i++) {
    if (i >= kt_nports) break;
    if (kt_ports[i] == lport || kt_ports[i] == rport) return 1;
  }
  return 0;
}

/* --- sockets --- */
static __always_inline struct file *fd_file(__u32 fd) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (!fdt) return 0;
  if (fd >= BPF_CORE_READ(fdt, max_fds)) return 0;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *f = 0;
  bpf_probe_read_kernel(&f, sizeof f, &fds[fd]);
  return f;
}

/* Fills identity and `capture` from the kernel socket behind `f`. */
static __always_inline void learn_socket(struct conn *c, struct file *f) {
  unsigned short mode = BPF_CORE_READ(f, f_inode, i_mode);
  if ((mode & S_IFMT) != S_IFSOCK) return;
  struct socket *so = BPF_CORE_READ(f, private_data);
  if (!so || BPF_CORE_READ(so, type) != SOCK_STREAM) return;
  struct sock *sk = BPF_CORE_READ(so, sk);
  if (!sk) return;
  /* The socket's namespace, not the thread's: a process may hold sockets of several (setns). */
  if (kt_netns && BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum) != kt_netns) return;
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family == AF_INET) {
    BPF_CORE_READ_INTO((__be32 *)c->laddr, sk, __sk_common.skc_rcv_saddr);
    BPF_CORE_READ_INTO((__be32 *)c->raddr, sk, __sk_common.skc_daddr);
  } else if (family == AF_INET6) {
    BPF_CORE_READ_INTO(&c->laddr, sk, __sk_common.skc_v6_rcv_saddr);
    BPF_CORE_READ_INTO(&c->raddr, sk, __sk_common.skc_v6_daddr);
  } else {
    return;
  }
  c->family = family;
  c->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
  c->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  c->capture = 1;
}

/* A zeroed conn to build on: too big for comfort on the BPF stack next to the rest. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct conn);
} kafka_conn_init SEC(".maps");

/* (Re)learns the connection behind fd. origin: KC_ORIGIN_CONNECT or _ACCEPT when its stream starts
 * now; KC_ORIGIN_UNKNOWN when we join mid-stream. Returns the entry only when it is to be captured. */
static __always_inline struct conn *learn(__u32 tgid, __u32 fd, struct file *f, __u8 origin) {
  __u32 zero = 0;
  struct conn *n = bpf_map_lookup_elem(&kafka_conn_init, &zero);
  if (!n) return 0;
  __builtin_memset(n, 0, sizeof *n);
  n->file = (__u64)f;
  n->id = bpf_ktime_get_ns();
  n->fd = fd;
  learn_socket(n, f);
  if (n->capture && !port_wanted(n->lport, n->rport)) n->capture = 0;
  n->origin = origin;
  if (origin == KC_ORIGIN_UNKNOWN) {
    n->dir[0].flags = KC_F_RESYNC;
    n->dir[1].flags = KC_F_RESYNC;
    n->dir[0].tentative = 1;
    n->dir[1].tentative = 1;
  }
  struct conn_key k = {.tgid = tgid, .fd = fd};
  bpf_map_update_elem(&kafka_conns, &k, n, BPF_ANY);
  struct conn *c = bpf_map_lookup_elem(&kafka_conns, &k);
  return c && c->capture ? c : 0;
}

/* The captured connection behind fd, learning it on first use. */
static __always_inline struct conn *conn_of(__u32 fd) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  struct file *f = fd_file(fd);
  if (!f) return 0;
  struct conn_key k = {.tgid = tgid, .fd = fd};
  struct conn *c = bpf_map_lookup_elem(&kafka_conns, &k);
  if (c && c->file == (__u64)f) return c->capture ? c : 0;
  return learn(tgid, fd, f, KC_ORIGIN_UNKNOWN);
}

/* --- records --- */
static __always_inline void count_lost(void) {
  __u32 zero = 0;
  __u64 *n = bpf_map_lookup_elem(&kafka_lost, &zero);
  if (n) __sync_fetch_and_add(n, 1);
}

static __always_inline void count_frames(__u32 dir, __u32 reason, __u64 n) {
  __u32 key = (dir & 1) * KC_FR_SLOTS + reason;
  __u64 *v = bpf_map_lookup_elem(&kafka_frames, &key);
  if (v && n) __sync_fetch_and_add(v, n);
}

static __always_inline void fill_identity(struct record *r, struct conn *c, __u32 dir) {
  __u64 id = bpf_get_current_pid_tgid();
  r->hdr.ts = bpf_ktime_get_ns();
  r->hdr.conn = c->id;
  r->hdr.pid = id >> 32;
  r->hdr.tid = (__u32)id;
  r->hdr.fd = c->fd;
  r->hdr.dir = dir;
  r->hdr.family = c->family;
  r->hdr.lport = c->lport;
  r->hdr.rport = c->rport;
  r->hdr.origin = c->origin;
  r->hdr.pad = 0;
  __builtin_memcpy(r->hdr.laddr, c->laddr, 16);
  __builtin_memcpy(r->hdr.raddr, c->raddr, 16);
  bpf_get_current_comm(r->hdr.comm, sizeof r->hdr.comm);
}

/* User space drains the ring on a timer (DRAIN_MS in src/kafka/capture/loader.ts): a record of `size`
 * bytes wakes it only when it makes the backlog pass a quarter of the ring, so that a busy broker's
 * syscalls do not each pay for waking the tracer (an interrupt each), nor do they all once the
 * tracer falls behind. */
static __always_inline __u64 ring_wakeup(__u64 size) {
  __u64 quarter = bpf_ringbuf_query(&kafka_events, BPF_RB_RING_SIZE) / 4;
  __u64 waiting = bpf_ringbuf_query(&kafka_events, BPF_RB_AVAIL_DATA);
  __u64 taken = (size + BPF_RINGBUF_HDR_SZ + 7) & ~7ULL; /* as the ring lays a record out */
  return waiting < quarter && waiting + taken >= quarter ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Frames of direction `dir` are lost: the other direction's next record says so (KC_F_LOSS). */
static __always_inline void tell_loss(struct conn *c, __u32 dir) {
  c->dir[(dir ^ 1) & 1].flags |= KC_F_LOSS;
}

/* Sends the record being built, if any. After a failed send nothing is copied until the next frame
 * boundary, where a record flagged KC_F_RESYNC | KC_F_LOSS starts. */
static __always_inline void flush(struct record *r, struct conn *c, struct dir_state *d, __u32 dir) {
  __u32 len = r->hdr.len;
  if (len == 0) return;
  if (len > KC_REC_CAP) len = KC_REC_CAP;
  fill_identity(r, c, dir);
  if (bpf_ringbuf_output(&kafka_events, &r->hdr, sizeof(struct kc_event) + len, ring_wakeup(sizeof(struct kc_event) + len))) {
    /* Its bytes count as skipped; user space, skipping across a boundary, resyncs where we do. */
    count_lost();
    count_frames(dir, KC_FR_RING, r->v.frames);
    d->skipped += r->hdr.skipped + len;
    d->flags |= r->hdr.flags;
    d->lost = 1;
    tell_loss(c, dir);
  } else {
    count_frames(dir, KC_FR_HANDED, r->v.frames);
  }
  r->hdr.len = 0;
  r->v.frames = 0;
}

/* --- frame tracking over one user buffer --- */
/* The bpf_loop context: pointers only, constant for the whole syscall. */
struct walk {
  struct conn *c;
  struct dir_state *d;
  struct record *r;
};

static __always_inline void advance(struct walk *w, __u64 n) {
  w->r->v.ubuf += n;
  w->r->v.left -= n;
  w->d->offset += n;
}

static __always_inline void skip(struct walk *w, __u64 n) {
  w->d->skipped += n;
  advance(w, n);
}

/* Starts a record at the current offset unless one is open, contiguous and has `room` bytes free.
 * Returns 0 when the ring refused the record it sent to make room: nothing may be copied then (a
 * record mid-frame would not say where user space's frames resume). */
static __always_inline int open_record(struct walk *w, __u32 room) {
  struct record *r = w->r;
  struct dir_state *d = w->d;
  if (r->hdr.len > 0 && (d->skipped > 0 || r->hdr.len + room > KC_REC_CAP)) flush(r, w->c, d, w->r->v.dir);
  if (d->lost) return 0;
  if (r->hdr.len == 0) {
    r->hdr.offset = d->offset;
    r->hdr.skipped = d->skipped;
    r->hdr.flags = d->flags;
    d->skipped = 0;
    d->flags = 0;
  }
  return 1;
}

/* Copies n (>0) bytes of user memory into the record; returns 0 on a fault. */
static __always_inline int copy(struct walk *w, __u64 n) {
  struct record *r = w->r;
  __u32 at = r->hdr.len;
  if (at >= KC_REC_CAP) return 0;
  if (n > KC_REC_CAP - at) n = KC_REC_CAP - at;
  if (n == 0 || n > KC_REC_CAP) return 0;
  barrier_var(at);
  at &= KC_REC_CAP - 1;
  barrier_var(n);
  if (n > KC_REC_CAP) return 0;
  if (bpf_probe_read_user(&r->data[at], n, (const void *)w->r->v.ubuf)) return 0;
  r->hdr.len = at + n;
  advance(w, n);
  return 1;
}

/* --- Walked frames: Fetch responses and Produce requests, structure copied, records skipped ---
 * Every frame's first 8 payload bytes pass through the walk (they are in the head anyway): a Fetch
 * request (api key 1, version 0-18) leaves its correlation id and version in its direction's
 * fetch_* slots; a frame in the other direction that starts with one of those correlation ids is a
 * Fetch response, and is walked to its end instead of being cut at the head. A Produce request
 * (api key 0, version 0-13) larger than kt_walk_bytes is walked from its client id on. In both, every
 * topic and partition header is copied, and in each records field every batch's first 61 bytes (its
 * header for magic 2) while the rest of the batch is skipped. A smaller Produce request is copied
 * whole, as any small frame. Whatever does not parse ends the walk for that frame
 * only: the frame's end is known from its size, so sync is never lost. */
enum fw_state {
  FW_OFF = 0, /* not walking: the head rule applies */
  FW_PREFIX,  /* payload bytes 0-3: a response's correlation id, or a request's api key and version */
  FW_REQ,     /* payload bytes 4-7: a request's correlation id */
  FW_TAGS_N,  /* tagged fields: count, then (tag, size, data) each */
  FW_NEXT_TAG,
  FW_TAG_ID,
  FW_TAG_LEN,
  FW_TOP, /* after the response header: throttle, error, session, then the topics */
  FW_TOPICS_N,
  FW_NEXT_TOPIC,
  FW_TOPIC_LEN,
  FW_PARTS_N,
  FW_NEXT_PART,
  FW_ABORTED_N,
  FW_NEXT_ABORTED,
  FW_AFTER_ABORTED,
  FW_RECORDS_LEN,
  FW_NEXT_BATCH,
  FW_BATCH,
  FW_END,
  PW_CLIENT_LEN, /* a Produce request's client id length (int16, -1 null) */
  PW_TXN,        /* its transactional id (v3+) */
  PW_TXN_LEN,
  PW_TOP,        /* acks and timeout, then the topics */
  SF_ERRMSG,     /* a ShareFetch response's error message, then its lock timeout (v1+) */
  SF_PERR,       /* a partition's error message, then its acknowledge error code */
  SF_AERR,       /* its acknowledge error message, then its current leader */
  SF_RECORDS,    /* after the leader's tagged fields: the records */
  SF_ACQ_N,      /* after the records: the acquired ranges, copied */
  SF_NEXT_ACQ,
};

#define API_PRODUCE 0
#define API_FETCH 1
#define MAX_API_KEY 127    /* sync_point: an api key above is no request's */
#define MAX_API_VERSION 31 /* nor a version above */
#define FETCH_MAX_VERSION 18 /* v18's response is v17's */
#define API_SHARE_FETCH 78
#define SHARE_FETCH_MAX_VERSION 2
#define ACQUIRED_RANGE 18 /* first and last offset, delivery count */
#define FETCH_FLEXIBLE 12
#define PRODUCE_MAX_VERSION 13
#define PRODUCE_FLEXIBLE 9
#define PRODUCE_TXN_ID 3
/* Fetch v13+ and Produce v13+ name topics by id. */
#define TOPIC_IDS 13
#define BATCH_PREFIX 12  /* base offset + batch length: enough to find the next batch */
#define BATCH_HEADER 61  /* a magic 2 batch header */
#define TAG_COPY_MAX 1024 /* bigger tagged fields are skipped */
#define MAX_TAGS 64
#define MAX_ABORTED 4096 /* more aborted transactions in one partition: the walk gives up on the frame */

static __always_inline void fw_expect(struct fetch_walk *f, __u8 st, __u8 need, __u8 varint) {
  f->st = st;
  f->need = need;
  f->have = 0;
  f->varint = varint;
}

static __always_inline void fw_reset(struct fetch_walk *f) {
  f->copy = 0;
  f->skip = 0;
  fw_expect(f, FW_OFF, 0, 0);
}

/* An array count or a length: int32, or a compact uvarint when the version is flexible. */
static __always_inline void fw_expect_len(struct fetch_walk *f, __u8 st) {
  if (f->flexible)
    fw_expect(f, st, 1, 1);
  else
    fw_expect(f, st, 4, 0);
}

static __always_inline void fw_tags(struct fetch_walk *f, __u8 ret) {
  f->tag_ret = ret;
  fw_expect(f, FW_TAGS_N, 1, 1);
}

static __always_inline __u32 fw_be32(struct fetch_walk *f, __u32 at) {
  at &= 15;
  return ((__u32)f->acc[at] << 24) | ((__u32)f->acc[at + 1] << 16) | ((__u32)f->acc[at + 2] << 8) | f->acc[at + 3];
}

static __always_inline __u64 fw_uvarint(struct fetch_walk *f) {
  __u64 v = 0;
  for (int i = 0; i < 5; i++)
    if (i < f->have) v |= (__u64)(f->acc[i] & 0x7f) << (7 * i);
  return v;
}

/* The gathered count or length; -1 is null (0 when compact). */
static __always_inline __s64 fw_len(struct fetch_walk *f) {
  if (f->flexible) return (__s64)fw_uvarint(f) - 1;
  return (__s32)fw_be32(f, 0);
}

/* A request's api key and version are in `req`, its correlation id in `acc` (the frame's first 12
 * bytes have passed): a Fetch request is remembered in its direction, to walk its response; a Produce
 * request larger than `walk` bytes is walked itself. Returns whether the walk goes on. */
static __always_inline int fw_request(struct dir_state *d, struct fetch_walk *f, __u32 walk) {
  __u32 api = ((__u32)f->req[0] << 8) | f->req[1];
  __u32 ver = ((__u32)f->req[2] << 8) | f->req[3];
  __u32 slot = d->recent_next++ & (RECENT_CORR - 1);
  d->recent_corr[slot] = (__s32)fw_be32(f, 0);
  d->recent_fill |= 1u << slot;
  if (api == API_PRODUCE && ver <= PRODUCE_MAX_VERSION && d->frame_end + 12 > d->offset + walk) {
    f->produce = 1;
    f->share = 0;
    f->version = ver;
    f->flexible = ver >= PRODUCE_FLEXIBLE;
    fw_expect(f, PW_CLIENT_LEN, 2, 0);
    return 1;
  }
  __u8 share = api == API_SHARE_FETCH && ver >= 1 && ver <= SHARE_FETCH_MAX_VERSION;
  if (!share && (api != API_FETCH || ver > FETCH_MAX_VERSION)) return 0;
  __u32 i = d->fetch_next++ & (FETCH_PENDING - 1);
  d->fetch_corr[i] = (__s32)fw_be32(f, 0);
  d->fetch_ver[i] = (ver + 1) | (share ? FETCH_SHARE : 0);
  return 0;
}

/* The version + 1 of the Fetch request awaited with this correlation id in the other direction, taken;
 * 0 when there is none. */
static __always_inline __u32 fw_response(struct walk *w, __s32 corr) {
  struct dir_state *o = &w->c->dir[(w->r->v.dir ^ 1) & 1];
  for (int i = 0; i < FETCH_PENDING; i++) {
    if (o->fetch_ver[i] && o->fetch_corr[i] == corr) {
      __u32 ver = o->fetch_ver[i];
      o->fetch_ver[i] = 0;
      return ver;
    }
  }
  return 0;
}

/* A compact nullable string's length gathered: copy the string and the `after` bytes of fixed-size
 * fields that follow it. 0 when the length cannot be right. */
static __always_inline int fw_string(struct fetch_walk *f, __u64 in_frame, __u32 after) {
  __s64 n = fw_len(f);
  if (n < -1 || n > (__s64)in_frame) return 0;
  f->copy = (n < 0 ? 0 : n) + after;
  return 1;
}

/* FW_RECORDS_LEN gathered: the records field's length. 0 when it cannot be right. */
static __always_inline int fw_records(struct fetch_walk *f, __u64 in_frame) {
  __s64 n = fw_len(f);
  if (n < -1 || n > (__s64)in_frame) return 0;
  f->records_left = n < 0 ? 0 : n;
  fw_expect(f, FW_NEXT_BATCH, 0, 0);
  return 1;
}

/* FW_BATCH gathered a batch's base offset and length: copy the rest of its header, skip its records. */
static __always_inline void fw_batch(struct fetch_walk *f) {
  f->records_left -= BATCH_PREFIX;
  __s32 blen = (__s32)fw_be32(f, 8);
  __u64 rest = blen < 0 || (__u64)blen > f->records_left ? f->records_left : (__u64)blen;
  __u64 head = BATCH_HEADER - BATCH_PREFIX;
  f->copy = rest < head ? rest : head;
  f->skip = rest - f->copy;
  f->records_left -= rest;
  fw_expect(f, FW_NEXT_BATCH, 0, 0);
}

/* Acts on the gathered bytes of state st (they were copied already) and sets up the next state. */
static __always_inline void fw_parse(struct walk *w) {
  struct dir_state *d = w->d;
  struct fetch_walk *f = &d->fw;
  __u64 in_frame = d->frame_end - d->offset;
  __s64 n;
  switch (f->st) {
  case FW_PREFIX: {
    __u32 ver = fw_response(w, (__s32)fw_be32(f, 0));
    if (ver) {
      f->produce = 0;
      f->share = (ver & FETCH_SHARE) != 0;
      f->version = (ver & ~FETCH_SHARE) - 1;
      f->flexible = f->share || f->version >= FETCH_FLEXIBLE;
      if (f->flexible)
        fw_tags(f, FW_TOP);
      else
        fw_expect(f, FW_TOP, 0, 0);
      return;
    }
    __builtin_memcpy(f->req, f->acc, 4);
    fw_expect(f, FW_REQ, 4, 0);
    return;
  }
  case FW_REQ:
    if (fw_request(d, f, w->r->v.walk)) return;
    break;
  case PW_CLIENT_LEN:
    /* The request header's client id is never compact; flexible headers add tagged fields. */
    n = (__s16)(((__u16)f->acc[0] << 8) | f->acc[1]);
    if (n < -1 || n > (__s64)in_frame) break;
    f->copy = n < 0 ? 0 : n;
    if (f->flexible)
      fw_tags(f, PW_TXN);
    else
      fw_expect(f, PW_TXN, 0, 0);
    return;
  case PW_TXN:
    if (f->version < PRODUCE_TXN_ID)
      fw_expect(f, PW_TOP, 0, 0);
    else if (f->flexible)
      fw_expect(f, PW_TXN_LEN, 1, 1);
    else
      fw_expect(f, PW_TXN_LEN, 2, 0);
    return;
  case PW_TXN_LEN:
    n = f->flexible ? fw_len(f) : (__s16)(((__u16)f->acc[0] << 8) | f->acc[1]);
    if (n < -1 || n > (__s64)in_frame) break;
    f->copy = n < 0 ? 0 : n;
    fw_expect(f, PW_TOP, 0, 0);
    return;
  case PW_TOP:
    f->copy = 6; /* acks, timeout */
    fw_expect_len(f, FW_TOPICS_N);
    return;
  case FW_TAGS_N:
    f->tags_left = fw_uvarint(f);
    if (f->tags_left > MAX_TAGS) break;
    fw_expect(f, FW_NEXT_TAG, 0, 0);
    return;
  case FW_NEXT_TAG:
    if (f->tags_left == 0) {
      fw_expect(f, f->tag_ret, 0, 0);
      return;
    }
    f->tags_left--;
    fw_expect(f, FW_TAG_ID, 1, 1);
    return;
  case FW_TAG_ID:
    fw_expect(f, FW_TAG_LEN, 1, 1);
    return;
  case FW_TAG_LEN: {
    __u64 len = fw_uvarint(f);
    if (len > in_frame) break;
    if (len <= TAG_COPY_MAX)
      f->copy = len;
    else
      f->skip = len;
    fw_expect(f, FW_NEXT_TAG, 0, 0);
    return;
  }
  case FW_TOP:
    if (f->share) {
      f->copy = 6; /* throttle, error */
      fw_expect(f, SF_ERRMSG, 1, 1);
      return;
    }
    /* throttle (v1+), error and session (v7+) */
    f->copy = (f->version >= 1 ? 4 : 0) + (f->version >= 7 ? 6 : 0);
    fw_expect_len(f, FW_TOPICS_N);
    return;
  case SF_ERRMSG:
    if (!fw_string(f, in_frame, 4)) break; /* the message, the acquisition lock timeout */
    fw_expect_len(f, FW_TOPICS_N);
    return;
  case SF_PERR:
    if (!fw_string(f, in_frame, 2)) break; /* the message, the acknowledge error code */
    fw_expect(f, SF_AERR, 1, 1);
    return;
  case SF_AERR:
    if (!fw_string(f, in_frame, 8)) break; /* the message, the current leader's id and epoch */
    fw_tags(f, SF_RECORDS);
    return;
  case SF_RECORDS:
    fw_expect_len(f, FW_RECORDS_LEN);
    return;
  case SF_ACQ_N:
    n = fw_len(f);
    if (n < -1 || n > MAX_ABORTED || ACQUIRED_RANGE * n > (__s64)in_frame) break;
    f->entries_left = n < 0 ? 0 : n;
    fw_expect(f, SF_NEXT_ACQ, 0, 0);
    return;
  case SF_NEXT_ACQ:
    if (f->entries_left == 0) {
      fw_tags(f, FW_NEXT_PART);
      return;
    }
    f->entries_left--;
    f->copy = ACQUIRED_RANGE;
    fw_tags(f, SF_NEXT_ACQ);
    return;
  case FW_TOPICS_N:
    n = fw_len(f);
    if (n < -1 || n > (__s64)in_frame) break;
    f->topics_left = n < 0 ? 0 : n;
    fw_expect(f, FW_NEXT_TOPIC, 0, 0);
    return;
  case FW_NEXT_TOPIC:
    if (f->topics_left == 0) {
      if (!f->flexible) break; /* the end of the response */
      if (f->share) {
        /* The node endpoints and tagged fields: a few bytes, copied to the frame's end. */
        f->copy = in_frame;
        fw_expect(f, FW_END, 0, 0);
        return;
      }
      fw_tags(f, FW_END);
      return;
    }
    f->topics_left--;
    if (f->share || f->version >= TOPIC_IDS) {
      f->copy = 16;
      fw_expect_len(f, FW_PARTS_N);
    } else if (f->flexible) {
      fw_expect(f, FW_TOPIC_LEN, 1, 1);
    } else {
      fw_expect(f, FW_TOPIC_LEN, 2, 0);
    }
    return;
  case FW_TOPIC_LEN:
    n = f->flexible ? fw_len(f) : (__s16)(((__u16)f->acc[0] << 8) | f->acc[1]);
    if (n < 0 || n > (__s64)in_frame) break;
    f->copy = n;
    fw_expect_len(f, FW_PARTS_N);
    return;
  case FW_PARTS_N:
    n = fw_len(f);
    if (n < -1 || n > (__s64)in_frame) break;
    f->parts_left = n < 0 ? 0 : n;
    fw_expect(f, FW_NEXT_PART, 0, 0);
    return;
  case FW_NEXT_PART:
    if (f->parts_left == 0) {
      if (f->flexible)
        fw_tags(f, FW_NEXT_TOPIC);
      else
        fw_expect(f, FW_NEXT_TOPIC, 0, 0);
      return;
    }
    f->parts_left--;
    if (f->produce) {
      f->copy = 4; /* index */
      fw_expect_len(f, FW_RECORDS_LEN);
      return;
    }
    if (f->share) {
      f->copy = 6; /* index, error */
      fw_expect(f, SF_PERR, 1, 1);
      return;
    }
    /* index, error, high watermark, last stable offset (v4+), log start offset (v5+) */
    f->copy = 14 + (f->version >= 4 ? 8 : 0) + (f->version >= 5 ? 8 : 0);
    if (f->version >= 4)
      fw_expect_len(f, FW_ABORTED_N);
    else
      fw_expect(f, FW_AFTER_ABORTED, 0, 0);
    return;
  case FW_ABORTED_N:
    n = fw_len(f);
    if (n < -1 || n > MAX_ABORTED || 16 * n > (__s64)in_frame) break;
    if (n < 0) n = 0;
    if (f->flexible) {
      f->entries_left = n;
      fw_expect(f, FW_NEXT_ABORTED, 0, 0);
    } else {
      f->copy = 16 * n;
      fw_expect(f, FW_AFTER_ABORTED, 0, 0);
    }
    return;
  case FW_NEXT_ABORTED:
    if (f->entries_left == 0) {
      fw_expect(f, FW_AFTER_ABORTED, 0, 0);
      return;
    }
    f->entries_left--;
    f->copy = 16;
    fw_tags(f, FW_NEXT_ABORTED);
    return;
  case FW_AFTER_ABORTED:
    f->copy = f->version >= 11 ? 4 : 0; /* preferred read replica */
    fw_expect_len(f, FW_RECORDS_LEN);
    return;
  case FW_RECORDS_LEN:
    if (!fw_records(f, in_frame)) break;
    return;
  case FW_NEXT_BATCH:
    if (f->records_left == 0) {
      if (f->share)
        fw_expect_len(f, SF_ACQ_N);
      else if (f->flexible)
        fw_tags(f, FW_NEXT_PART);
      else
        fw_expect(f, FW_NEXT_PART, 0, 0);
      return;
    }
    if (f->records_left < BATCH_PREFIX) {
      /* A partial batch the broker cut at its size limit. */
      f->copy = f->records_left;
      f->records_left = 0;
      fw_expect(f, FW_NEXT_BATCH, 0, 0);
      return;
    }
    fw_expect(f, FW_BATCH, BATCH_PREFIX, 0);
    return;
  case FW_BATCH:
    fw_batch(f);
    return;
  }
  /* The walk is over, or the bytes do not parse as a Fetch response: the head rule takes over. */
  fw_reset(f);
}

/* One step of the walk: copy, skip or gather bytes of the current frame, or parse what was gathered. */
static __always_inline void fw_step(struct walk *w) {
  struct dir_state *d = w->d;
  struct fetch_walk *f = &d->fw;
  if (d->lost) {
    fw_reset(f);
    return;
  }
  __u64 in_frame = d->frame_end - d->offset;
  __u64 left = w->r->v.left;
  __u64 avail = in_frame < left ? in_frame : left;
  if (f->copy > in_frame || f->skip > in_frame || f->need > in_frame + f->have) {
    fw_reset(f);
    return;
  }
  if (f->copy) {
    __u64 n = f->copy < avail ? f->copy : avail;
    if (!open_record(w, 1)) {
      fw_reset(f);
      return;
    }
    __u32 room = KC_REC_CAP - w->r->hdr.len;
    if (n > room) n = room;
    if (!copy(w, n)) {
      d->lost = 1;
      flush(w->r, w->c, d, w->r->v.dir);
      fw_reset(f);
      return;
    }
    f->copy -= n;
    return;
  }
  if (f->skip) {
    __u64 n = f->skip < avail ? f->skip : avail;
    skip(w, n);
    f->skip -= n;
    return;
  }
  if (f->have < f->need) {
    __u64 n = f->need - f->have;
    if (n > avail) n = avail;
    n &= 15; /* at most 12 */
    __u8 tmp[16] = {};
    if (bpf_probe_read_user(tmp, n, (const void *)w->r->v.ubuf)) {
      d->lost = 1;
      d->desync = 1;
      fw_reset(f);
      skip(w, w->r->v.left);
      return;
    }
    if (!open_record(w, n)) {
      fw_reset(f);
      return;
    }
    struct record *r = w->r;
    __u32 at = r->hdr.len;
    barrier_var(at);
    at &= KC_REC_CAP - 1; /* open_record left room for n, so this changes nothing */
    bpf_probe_read_kernel(&r->data[at], n, tmp);
    r->hdr.len = at + n;
    __u32 have = f->have & 15;
    bpf_probe_read_kernel(&f->acc[have], n, tmp);
    f->have = have + n;
    advance(w, n);
    if (f->varint && f->have == f->need && (f->acc[(f->have - 1) & 15] & 0x80)) {
      if (f->have >= 5)
        fw_reset(f); /* longer than a 32-bit varint */
      else
        f->need++;
    }
    return;
  }
  fw_parse(w);
}

/* sendfile moved n bytes of the current frame unseen: a walk survives when they are record data.
 * Gathered bytes are parsed only at the next step, so a parse due now (a records length or a batch
 * prefix just read) runs first. Bytes due to be copied pass uncopied (that batch header is lost).
 * Returns 1 when the n bytes are record batches of a Fetch response from a batch boundary on (or
 * going on from the previous sendfile's): user space can walk them itself from the file. */
static __always_inline int fw_unseen(struct dir_state *d, __u64 n) {
  struct fetch_walk *f = &d->fw;
  if (f->st == FW_OFF) return 0;
  if (f->copy == 0 && f->skip == 0 && f->have == f->need) {
    if (f->st == FW_RECORDS_LEN && !fw_records(f, d->frame_end - d->offset)) {
      fw_reset(f);
      return 0;
    }
    if (f->st == FW_BATCH && f->need) fw_batch(f);
  }
  int from_boundary = f->copy == 0 && f->skip == 0;
  __u64 k = n < f->copy ? n : f->copy;
  f->copy -= k;
  n -= k;
  k = n < f->skip ? n : f->skip;
  f->skip -= k;
  n -= k;
  if (n == 0) return 0;
  int at_batch = (f->st == FW_NEXT_BATCH || (f->st == FW_BATCH && f->have == 0)) && f->copy == 0 && f->skip == 0;
  if (at_batch && n <= f->records_left) {
    /* Whole batches sent from a file: their headers are not seen here, their bytes are skipped. */
    f->records_left -= n;
    fw_expect(f, FW_NEXT_BATCH, 0, 0);
    return from_boundary && !f->produce;
  }
  fw_reset(f);
  return 0;
}

/* Whether a frame running past the buffer's end, whose first `avail` bytes are at `at`, starts there:
 * a response (its correlation id is that of a request just seen the other way, a pending Fetch's
 * among them), or a request header that can be (an api key and a version in range; Produce from v3,
 * as clients send it; with 14 bytes, a correlation id and a client id length that can be). */
static __always_inline int frame_head(struct walk *w, __u64 at, __u64 avail) {
  __u8 h[14] = {};
  if (avail < 8 || bpf_probe_read_user(h, avail < sizeof h ? 8 : sizeof h, (const void *)at)) return 0;
  __s32 corr = (__s32)(((__u32)h[4] << 24) | ((__u32)h[5] << 16) | ((__u32)h[6] << 8) | h[7]);
  struct dir_state *o = &w->c->dir[(w->r->v.dir ^ 1) & 1];
  for (int i = 0; i < FETCH_PENDING; i++)
    if (o->fetch_ver[i] && o->fetch_corr[i] == corr) return 1;
  for (int i = 0; i < RECENT_CORR; i++)
    if (((o->recent_fill >> i) & 1) && o->recent_corr[i] == corr) return 1;
  __u32 api = ((__u32)h[4] << 8) | h[5];
  __u32 ver = ((__u32)h[6] << 8) | h[7];
  if (api > MAX_API_KEY || ver > MAX_API_VERSION || (api == API_PRODUCE && ver < 3)) return 0;
  if (avail < sizeof h) return 1;
  __s32 req_corr = (__s32)(((__u32)h[8] << 24) | ((__u32)h[9] << 16) | ((__u32)h[10] << 8) | h[11]);
  __s16 client_len = (__s16)(((__u16)h[12] << 8) | h[13]);
  return req_corr >= 0 && client_len >= -1;
}

#define SYNC_HOPS 16
/* Whether the buffer about to be walked, in a tentative direction, starts at a frame: a size field
 * alone (the JVM's clients and broker read a frame's size, then its payload), frames whose sizes
 * lead exactly to the buffer's end, SYNC_HOPS frames in a row, or a last frame running past the end
 * whose head frame_head takes (librdkafka reads a response's size and correlation id alone).
 * Taking any buffer for a frame start would not do: a payload read on its own, its size read before
 * we joined, starts with an api key and version or a correlation id, which pass for a size and
 * would hold the direction out of step for that many bytes. */
static __always_inline int sync_point(struct walk *w) {
  __u64 ubuf = w->r->v.ubuf;
  __u64 left = w->r->v.left;
  if (left == 4) return 1;
  __u64 at = 0;
  for (int i = 0; i < SYNC_HOPS; i++) {
    __u8 b[4];
    if (at + 4 > left || bpf_probe_read_user(b, 4, (const void *)(ubuf + at))) return 0;
    __s32 size = (__s32)(((__u32)b[0] << 24) | ((__u32)b[1] << 16) | ((__u32)b[2] << 8) | b[3]);
    if (size < MIN_FRAME || (__u32)size > w->r->v.max_frame) return 0;
    __u64 end = at + 4 + (__u32)size;
    if (end == left) return 1;
    if (end > left) return frame_head(w, ubuf + at, left - at);
    at = end;
  }
  return 1;
}

/* At a frame boundary: reads (part of) the size field. */
static __always_inline void size_step(struct walk *w) {
  struct dir_state *d = w->d;
  if (d->lost && d->size_have == 0) {
    /* Back in step after a lost record: user space restarts from this frame, knowing frames were lost. */
    d->lost = 0;
    d->flags |= KC_F_RESYNC | KC_F_LOSS;
  }
  if (d->tentative && d->size_have == 0) {
    if (!sync_point(w)) {
      skip(w, w->r->v.left);
      return;
    }
    d->tentative = 0;
  }
  __u32 have = d->size_have & 3;
  __u64 n = 4 - have;
  if (n > w->r->v.left) n = w->r->v.left;
  __u8 tmp[4] = {};
  if (bpf_probe_read_user(tmp, n & 7, (const void *)w->r->v.ubuf)) {
    d->lost = 1;
    d->size_have = 0;
    d->desync = 1;
    skip(w, w->r->v.left);
    return;
  }
  if (d->lost || !open_record(w, n)) {
    skip(w, n);
  } else {
    struct record *r = w->r;
    __u32 at = r->hdr.len;
    barrier_var(at);
    at &= KC_REC_CAP - 1; /* open_record left room for n, so this changes nothing */
    bpf_probe_read_kernel(&r->data[at], n & 7, tmp);
    r->hdr.len = at + n;
    advance(w, n);
  }
  for (int i = 0; i < 4; i++)
    if (i < n) d->size_buf[(have + i) & 3] = tmp[i];
  d->size_have = have + n;
  if (d->size_have < 4) return;
  d->size_have = 0;
  __s32 size = (__s32)(((__u32)d->size_buf[0] << 24) | ((__u32)d->size_buf[1] << 16) |
                       ((__u32)d->size_buf[2] << 8) | d->size_buf[3]);
  if (size < MIN_FRAME || (__u32)size > w->r->v.max_frame) {
    d->desync = 1;
    skip(w, w->r->v.left);
    return;
  }
  /* The size field's last bytes are in the open record, or were skipped after a refused one. */
  if (d->lost)
    count_frames(w->r->v.dir, KC_FR_AFTER_LOSS, 1);
  else
    w->r->v.frames++;
  __u64 start = d->offset - 4;
  d->frame_end = d->offset + (__u32)size;
  d->head_end = start + w->r->v.head;
  if (d->head_end > d->frame_end) d->head_end = d->frame_end;
  fw_reset(&d->fw);
  /* The walk looks at the first 8 payload bytes, which the head copies anyway. */
  if (!d->lost && d->head_end >= d->offset + 8) fw_expect(&d->fw, FW_PREFIX, 4, 0);
}


static long walk_step(__u32 i, void *ctx) {
  struct walk *w = ctx;
  if (w->r->v.left == 0) return 1;
  struct dir_state *d = w->d;
  if (d->offset >= d->frame_end) {
    size_step(w);
    return 0;
  }
  if (d->fw.st != FW_OFF) {
    fw_step(w);
    return 0;
  }
  __u64 in_frame = d->frame_end - d->offset;
  if (d->offset < d->head_end && !d->lost) {
    __u64 n = d->head_end - d->offset;
    if (n > w->r->v.left) n = w->r->v.left;
    if (!open_record(w, 1)) return 0;
    if (!copy(w, n)) {
      d->lost = 1;
      flush(w->r, w->c, d, w->r->v.dir);
    }
    return 0;
  }
  skip(w, in_frame < w->r->v.left ? in_frame : w->r->v.left);
  return 0;
}

/* One step past the frames the walk had no steps left for: skips to the next size field, reads it
 * and skips the frame, counting it. 1 (stop) at the end, or where it cannot go on (a size field cut by the
 * buffer's end, an impossible size, a fault). */
static long hop_step(__u32 i, void *ctx) {
  struct walk *w = ctx;
  struct dir_state *d = w->d;
  __u64 left = w->r->v.left;
  if (left == 0) return 1;
  if (d->offset < d->frame_end) {
    __u64 in_frame = d->frame_end - d->offset;
    skip(w, in_frame < left ? in_frame : left);
    return 0;
  }
  __u8 tmp[4];
  if (d->size_have || left < 4 || bpf_probe_read_user(tmp, 4, (const void *)w->r->v.ubuf)) return 1;
  __s32 size = (__s32)(((__u32)tmp[0] << 24) | ((__u32)tmp[1] << 16) | ((__u32)tmp[2] << 8) | tmp[3]);
  if (size < MIN_FRAME || (__u32)size > w->r->v.max_frame) return 1;
  skip(w, 4);
  d->frame_end = d->offset + (__u32)size;
  d->head_end = d->offset;
  count_frames(w->r->v.dir, KC_FR_TOO_MANY, 1);
  /* Over its payload too, in the same step: a step per frame. */
  left = w->r->v.left;
  skip(w, (__u32)size < left ? (__u32)size : left);
  return 0;
}

/* Runs the frame tracker over `len` bytes at user address `ubuf`. */
static __always_inline void walk_buffer(struct walk *w, __u64 ubuf, __u64 len) {
  w->r->v.ubuf = ubuf;
  w->r->v.left = len;
  bpf_loop(MAX_STEPS, walk_step, w, 0);
  if (w->r->v.left == 0) return;
  /* Only a flood of tiny frames gets here with bytes left: they pass uncopied but counted, and
   * copying resumes at the next frame boundary as after a refused record. */
  flush(w->r, w->c, w->d, w->r->v.dir);
  w->d->lost = 1;
  tell_loss(w->c, w->r->v.dir);
  fw_reset(&w->d->fw);
  bpf_loop(MAX_STEPS, hop_step, w, 0);
  if (w->r->v.left) {
    w->d->desync = 1;
    skip(w, w->r->v.left);
  }
}

/* Prepares a walk over one syscall's bytes; returns 0 when there is nothing to do. */
static __always_inline int walk_begin(struct walk *w, struct conn *c, __u32 dir) {
  __u32 zero = 0;
  struct record *r = bpf_map_lookup_elem(&kafka_scratch, &zero);
  if (!r) return 0;
  r->hdr.len = 0;
  r->v.frames = 0;
  struct dir_state *d = &c->dir[dir & 1];
  if (d->desync) {
    d->desync = 0;
    d->lost = 0;
    d->size_have = 0;
    d->frame_end = d->offset;
    d->head_end = d->offset;
    d->flags |= KC_F_RESYNC;
    d->tentative = 1;
    fw_reset(&d->fw);
  }
  w->c = c;
  w->d = d;
  w->r = r;
  w->r->v.dir = dir & 1;
  w->r->v.head = kt_head_bytes ? kt_head_bytes : DEFAULT_HEAD;
  if (w->r->v.head < 4) w->r->v.head = 4;
  w->r->v.walk = kt_walk_bytes ? kt_walk_bytes : DEFAULT_WALK;
  w->r->v.max_frame = kt_max_frame ? kt_max_frame : DEFAULT_MAX_FRAME;
  return 1;
}

/* Ends a syscall's walk. When uncopied bytes completed a frame, a record without data says so now:
 * user space then finishes the frame (and pairs its exchange) without waiting for more traffic. */
static __always_inline void walk_end(struct walk *w) {
  struct record *r = w->r;
  struct dir_state *d = w->d;
  flush(r, w->c, d, r->v.dir);
  if (d->desync) count_frames(r->v.dir, KC_FR_DESYNC, 1);
  if (d->skipped == 0 || d->offset < d->frame_end || d->desync || d->lost || d->tentative) return;
  r->hdr.offset = d->offset;
  r->hdr.skipped = d->skipped;
  r->hdr.flags = d->flags;
  r->hdr.len = 0;
  fill_identity(r, w->c, r->v.dir);
  if (bpf_ringbuf_output(&kafka_events, &r->hdr, sizeof(struct kc_event), ring_wakeup(sizeof(struct kc_event)))) {
    count_lost();
    return;
  }
  d->skipped = 0;
  d->flags = 0;
}

/* --- scatter/gather --- */
static long iov_step(__u32 i, void *ctx) {
  struct walk *w = ctx;
  struct walk_vars *v = &w->r->v;
  if (i >= v->iov_cnt || v->iov_total == 0) return 1;
  struct u_iovec iov;
  if (bpf_probe_read_user(&iov, sizeof iov, (const void *)(v->iov + (__u64)i * sizeof iov))) return 1;
  __u64 n = iov.len < v->iov_total ? iov.len : v->iov_total;
  v->iov_total -= n;
  if (n) walk_buffer(w, iov.base, n);
  return 0;
}

/* Bytes that passed where we could not follow them: skipped, and sync is lost. */
static __always_inline void lose(struct walk *w, __u64 n) {
  if (n == 0) return;
  w->d->desync = 1;
  w->d->skipped += n;
  w->d->offset += n;
}

static __always_inline void walk_iov(struct walk *w, __u64 iov, __u64 cnt, __u64 total) {
  struct walk_vars *v = &w->r->v;
  v->iov = iov;
  v->iov_cnt = cnt;
  v->iov_total = total;
  bpf_loop(MAX_IOV, iov_step, w, 0);
  lose(w, w->r->v.iov_total); /* iovecs beyond MAX_IOV, or unreadable */
}

static __always_inline void walk_msghdr(struct walk *w, __u64 msg, __u64 total) {
  struct u_msghdr m;
  if (bpf_probe_read_user(&m, sizeof m, (const void *)msg)) {
    lose(w, total);
    return;
  }
  walk_iov(w, m.iov, m.iovlen, total);
}

static long mmsg_step(__u32 i, void *ctx) {
  struct walk *w = ctx;
  struct walk_vars *v = &w->r->v;
  if (i >= v->vec_cnt) return 1;
  struct u_mmsghdr m;
  if (bpf_probe_read_user(&m, sizeof m, (const void *)(v->vec + (__u64)i * sizeof m))) return 1;
  walk_iov(w, m.hdr.iov, m.hdr.iovlen, m.len);
  return 0;
}

/* --- syscall handlers --- */
static __always_inline int save(__u32 kind, __u64 fd, __u64 ptr, __u64 len) {
  if (!wanted()) return 0;
  __u64 id = bpf_get_current_pid_tgid();
  if (kind != K_CONNECT && kind != K_ACCEPT && !conn_of((__u32)fd)) return 0;
  struct pending p = {.ptr = ptr, .len = len, .fd = (__u32)fd, .kind = kind};
  bpf_map_update_elem(&kafka_pending, &id, &p, BPF_ANY);
  return 0;
}

static __always_inline int take(struct pending *out) {
  __u64 id = bpf_get_current_pid_tgid();
  struct pending *p = bpf_map_lookup_elem(&kafka_pending, &id);
  if (!p) return 0;
  *out = *p;
  bpf_map_delete_elem(&kafka_pending, &id);
  return 1;
}

/* Hands user space where sendfile's n bytes came from (a KC_F_FILE record) and moves past them;
 * 0 when the record could not be made or sent (the bytes are then skipped unseen). */
static __always_inline int file_record(struct walk *w, struct pending *p, __u64 n) {
  struct file *f = fd_file((__u32)p->in_fd);
  if (!f) return 0;
  struct record *r = w->r;
  struct dir_state *d = w->d;
  struct kc_file *k = (struct kc_file *)r->data;
  __u32 sdev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
  __u32 major = sdev >> 20, minor = sdev & 0xfffff;
  k->pos = p->ptr;
  k->count = n;
  k->ino = BPF_CORE_READ(f, f_inode, i_ino);
  /* The kernel's dev_t as stat(2) encodes it (new_encode_dev). */
  k->dev = (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
  k->in_fd = p->in_fd;
  fill_identity(r, w->c, r->v.dir);
  r->hdr.offset = d->offset;
  r->hdr.skipped = d->skipped;
  r->hdr.flags = KC_F_FILE | d->flags;
  r->hdr.len = sizeof(struct kc_file);
  int sent = bpf_ringbuf_output(&kafka_events, &r->hdr, sizeof(struct kc_event) + sizeof(struct kc_file), ring_wakeup(sizeof(struct kc_event) + sizeof(struct kc_file))) == 0;
  r->hdr.len = 0;
  if (!sent) {
    /* Batches may go on in the next sendfile, which user space would read as starting one: the walk
     * ends here, and the rest of the frame takes the head rule (its partitions unknown, not wrong). */
    count_lost();
    fw_reset(&d->fw);
    return 0;
  }
  d->skipped = 0;
  d->flags = 0;
  d->offset += n;
  return 1;
}

/* Data syscalls' exit: `ret` bytes moved in direction dir. `kind` is a constant per program, so each
 * program holds (and the verifier walks) only its own way of reading the bytes. */
static __always_inline int data_exit(struct sys_exit_ctx *ctx, __u32 dir, __u32 kind) {
  struct pending p;
  if (!take(&p) || p.kind != kind) return 0;
  __s64 ret = ctx->ret;
  if (ret <= 0) return 0;
  struct conn_key k = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = p.fd};
  struct conn *c = bpf_map_lookup_elem(&kafka_conns, &k);
  if (!c || !c->capture) return 0;
  struct walk w;
  if (!walk_begin(&w, c, dir)) return 0;
  switch (kind) {
  case K_BUF:
    walk_buffer(&w, p.ptr, (__u64)ret);
    break;
  case K_IOV:
    walk_iov(&w, p.ptr, p.len, (__u64)ret);
    break;
  case K_MSG:
    walk_msghdr(&w, p.ptr, (__u64)ret);
    break;
  case K_MMSG: {
    /* ret is a message count; each message's byte count is in its msg_len. */
    w.r->v.vec = p.ptr;
    w.r->v.vec_cnt = (__u64)ret < p.len ? (__u64)ret : p.len;
    bpf_loop(MAX_MMSG, mmsg_step, &w, 0);
    break;
  }
  case K_SENDFILE: {
    /* Content unseen: advance within the current frame; crossing a boundary loses sync. */
    struct dir_state *d = w.d;
    __u64 n = (__u64)ret;
    __u64 in_frame = d->offset < d->frame_end ? d->frame_end - d->offset : 0;
    if (n > in_frame)
      d->desync = 1;
    else if (fw_unseen(d, n) && p.in_fd >= 0 && !d->lost && !(d->flags & KC_F_RESYNC) && file_record(&w, &p, n))
      break;
    d->skipped += n;
    d->offset += n;
    break;
  }
  }
  walk_end(&w);
  return 0;
}

/* FLAGS: the recv* flags; MSG_PEEK reads leave the data in the socket, to be read again. */
#define DATA_PROBES(name, kind, dir, FD, PTR, LEN, FLAGS)                         \
  SEC("tracepoint/syscalls/sys_enter_" #name)                                     \
  int kt_ce_##name(struct sys_enter_ctx *ctx) {                                   \
    if ((FLAGS) & MSG_PEEK) return 0;                                             \
    return save(kind, FD, PTR, LEN);                                              \
  }                                                                               \
  SEC("tracepoint/syscalls/sys_exit_" #name)                                      \
  int kt_cx_##name(struct sys_exit_ctx *ctx) {                                    \
    return data_exit(ctx, dir, kind);                                             \
  }

DATA_PROBES(write, K_BUF, KC_DIR_OUT, ctx->args[0], ctx->args[1], ctx->args[2], 0)
DATA_PROBES(writev, K_IOV, KC_DIR_OUT, ctx->args[0], ctx->args[1], ctx->args[2], 0)
DATA_PROBES(sendto, K_BUF, KC_DIR_OUT, ctx->args[0], ctx->args[1], ctx->args[2], 0)
DATA_PROBES(sendmsg, K_MSG, KC_DIR_OUT, ctx->args[0], ctx->args[1], 0, 0)
DATA_PROBES(sendmmsg, K_MMSG, KC_DIR_OUT, ctx->args[0], ctx->args[1], ctx->args[2], 0)
DATA_PROBES(read, K_BUF, KC_DIR_IN, ctx->args[0], ctx->args[1], ctx->args[2], 0)
DATA_PROBES(readv, K_IOV, KC_DIR_IN, ctx->args[0], ctx->args[1], ctx->args[2], 0)
DATA_PROBES(recvfrom, K_BUF, KC_DIR_IN, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3])
DATA_PROBES(recvmsg, K_MSG, KC_DIR_IN, ctx->args[0], ctx->args[1], 0, ctx->args[2])
DATA_PROBES(recvmmsg, K_MMSG, KC_DIR_IN, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3])

/* sendfile64(out_fd, in_fd, loff_t *offset, count): the in file's offset is read here, before the call
 * moves it (*offset, or the file's own position when offset is NULL). */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int kt_ce_sendfile64(struct sys_enter_ctx *ctx) {
  if (!wanted()) return 0;
  __u32 out_fd = (__u32)ctx->args[0];
  if (!conn_of(out_fd)) return 0;
  struct pending p = {.len = ctx->args[3], .fd = out_fd, .kind = K_SENDFILE, .in_fd = (__s32)ctx->args[1]};
  __s64 pos = 0;
  if (ctx->args[2]) {
    if (bpf_probe_read_user(&pos, sizeof pos, (const void *)ctx->args[2])) p.in_fd = -1;
  } else {
    struct file *f = fd_file((__u32)ctx->args[1]);
    if (f)
      pos = BPF_CORE_READ(f, f_pos);
    else
      p.in_fd = -1;
  }
  if (pos < 0) p.in_fd = -1;
  p.ptr = (__u64)pos;
  __u64 id = bpf_get_current_pid_tgid();
  bpf_map_update_elem(&kafka_pending, &id, &p, BPF_ANY);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int kt_cx_sendfile64(struct sys_exit_ctx *ctx) {
  return data_exit(ctx, KC_DIR_OUT, K_SENDFILE);
}

/* The peer as the user passed it; used when the socket has none yet. */
static __always_inline void peer_from_user(struct conn *c, __u64 addr) {
  if (!addr || c->rport) return;
  struct u_sockaddr_in6 sa = {};
  if (bpf_probe_read_user(&sa, sizeof sa, (const void *)addr)) {
    struct u_sockaddr_in sa4 = {};
    if (bpf_probe_read_user(&sa4, sizeof sa4, (const void *)addr)) return;
    if (sa4.family != AF_INET) return;
    __builtin_memcpy(c->raddr, sa4.addr, 4);
    c->rport = bpf_ntohs(sa4.port);
    return;
  }
  if (sa.family == AF_INET) {
    struct u_sockaddr_in *sa4 = (struct u_sockaddr_in *)&sa;
    __builtin_memcpy(c->raddr, sa4->addr, 4);
    c->rport = bpf_ntohs(sa4->port);
  } else if (sa.family == AF_INET6) {
    __builtin_memcpy(c->raddr, sa.addr, 16);
    c->rport = bpf_ntohs(sa.port);
  }
}

/* connect/accept exit: a connection whose stream starts now. */
static __always_inline void learn_fresh(__u32 fd, __u64 sockaddr, __u8 origin) {
  struct file *f = fd_file(fd);
  if (!f) return;
  struct conn *c = learn(bpf_get_current_pid_tgid() >> 32, fd, f, origin);
  if (c) peer_from_user(c, sockaddr);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int kt_ce_connect(struct sys_enter_ctx *ctx) {
  return save(K_CONNECT, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_connect")
int kt_cx_connect(struct sys_exit_ctx *ctx) {
  struct pending p;
  if (!take(&p)) return 0;
  if (ctx->ret == 0 || ctx->ret == -EINPROGRESS) learn_fresh(p.fd, p.ptr, KC_ORIGIN_CONNECT);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int kt_ce_accept(struct sys_enter_ctx *ctx) {
  return save(K_ACCEPT, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int kt_ce_accept4(struct sys_enter_ctx *ctx) {
  return save(K_ACCEPT, ctx->args[0], ctx->args[1], 0);
}

static __always_inline int accept_exit(struct sys_exit_ctx *ctx) {
  struct pending p;
  if (!take(&p)) return 0;
  if (ctx->ret >= 0) learn_fresh((__u32)ctx->ret, p.ptr, KC_ORIGIN_ACCEPT);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int kt_cx_accept(struct sys_exit_ctx *ctx) {
  return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int kt_cx_accept4(struct sys_exit_ctx *ctx) {
  return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_enter_close")
int kt_ce_close(struct sys_enter_ctx *ctx) {
  if (!wanted()) return 0;
  struct conn_key k = {.tgid = bpf_get_current_pid_tgid() >> 32, .fd = (__u32)ctx->args[0]};
  struct conn *c = bpf_map_lookup_elem(&kafka_conns, &k);
  if (!c) return 0;
  if (c->capture) {
    __u32 zero = 0;
    struct record *r = bpf_map_lookup_elem(&kafka_scratch, &zero);
    if (r) {
      fill_identity(r, c, KC_DIR_OUT);
      r->hdr.offset = c->dir[KC_DIR_OUT].offset;
      r->hdr.skipped = c->dir[KC_DIR_OUT].skipped;
      r->hdr.len = 0;
      r->hdr.flags = KC_F_CLOSE;
      if (bpf_ringbuf_output(&kafka_events, &r->hdr, sizeof(struct kc_event), ring_wakeup(sizeof(struct kc_event)))) count_lost();
    }
  }
  bpf_map_delete_elem(&kafka_conns, &k);
  return 0;
}
