#pragma once

#include <cstddef>

// gRPC message size limits between the shim and the core. The shim has the same numbers (shim/process.go); change
// both together.
namespace msteams::rpc {

// MattermostApi (core → shim): files travel whole in one message. Mattermost's default MaxFileSize is 100 MB.
inline constexpr std::size_t kMaxApiMessageBytes = std::size_t{128} << 20;
// The largest file data upload_file sends and get_file receives; the rest of the message is room for the other
// fields. Larger data fails with ErrorCode::too_large, before anything is sent.
inline constexpr std::size_t kMaxFileBytes = kMaxApiMessageBytes - (std::size_t{1} << 20);

// Hooks (shim → core): HTTP bodies travel in 64 KiB chunks and the shim cuts event batches at half this size, so
// the largest items are single posts.
inline constexpr std::size_t kMaxHooksMessageBytes = std::size_t{16} << 20;

// Concurrency: each running call holds one of the sync server's threads. Slow HTTP clients (a body trickling in)
// must not take them all: beyond kMaxConcurrentHttp running ServeHTTP calls the core answers 503 with Retry-After at
// once, and the server never runs more than kMaxServerThreads threads (gRPC answers RESOURCE_EXHAUSTED beyond, which
// the shim turns into 503 too). The shim caps its own concurrent ServeHTTP calls below these (shim/serve_http.go).
struct ServerLimits {
    std::size_t max_concurrent_http = 64;
    int max_threads = 200;
};

inline constexpr char const* kBusyRetryAfterSeconds = "2";

}  // namespace msteams::rpc
