// BatchHeaders: the record batch headers of a stretch of a Kafka log segment (see kt_files.cc).
#pragma once
#include <napi.h>

namespace kt {

Napi::Value BatchHeaders(const Napi::CallbackInfo& info);

}  // namespace kt
