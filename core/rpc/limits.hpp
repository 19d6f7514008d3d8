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

}  // namespace msteams::rpc
