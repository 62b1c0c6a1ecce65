// A broker sends record batches with sendfile(2); the capture hands their place in the segment and
// src/kafka/capture/files.ts reads their headers back. A Fetch response of 1 MiB holds tens of
// batches: reading their headers here, one pread each, costs one call from JavaScript rather than
// one per batch.
#include "kt_files.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <vector>

namespace kt {

namespace {

// What is read of each batch: a magic 2 header (BATCH_HEADER in bpf-templates/kafka-capture.bpf.c).
constexpr size_t kHeader = 61;
// Its base offset and length, which give its size (Kafka's LOG_OVERHEAD).
constexpr size_t kPrefix = 12;
// A slot of the answer: the header's bytes, then how many were read.
constexpr size_t kSlot = 64;
static_assert(kHeader < kSlot, "a slot holds a header and its byte count");
// Batches read per call at most: the caller asks again from where the answer stops.
constexpr size_t kMaxBatches = 1024;

}  // namespace

// batchHeaders(fd, pos, end): the headers of the batches that start at pos and follow one another
// up to end, each in a 64-byte slot (61 bytes of header, then the count read: fewer at the file's
// end). Stops after a slot read short or one whose length is negative (the batch's end is unknown),
// and at a read error: undefined when nothing at all could be read.
Napi::Value BatchHeaders(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "batchHeaders(fd, pos, end) takes three numbers");
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int64_t pos = info[1].As<Napi::Number>().Int64Value();
  int64_t end = info[2].As<Napi::Number>().Int64Value();
  std::vector<uint8_t> out;
  for (size_t n = 0; pos < end && n < kMaxBatches; n++) {
    out.resize(out.size() + kSlot, 0);
    uint8_t* slot = out.data() + out.size() - kSlot;
    ssize_t got;
    do got = pread(fd, slot, kHeader, pos);
    while (got < 0 && errno == EINTR);
    if (got <= 0) {
      out.resize(out.size() - kSlot);
      break;
    }
    slot[kHeader] = static_cast<uint8_t>(got);
    if (static_cast<size_t>(got) < kHeader) break;
    int32_t length = static_cast<int32_t>((uint32_t{slot[8]} << 24) | (uint32_t{slot[9]} << 16) | (uint32_t{slot[10]} << 8) | slot[11]);
    if (length < 0) break;
    pos += static_cast<int64_t>(kPrefix) + length;
  }
  if (out.empty()) return env.Undefined();
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), out.size());
}

}  // namespace kt
