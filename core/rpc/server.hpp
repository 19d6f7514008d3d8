#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "rpc/limits.hpp"

namespace msteams::app {
class Core;
}

namespace msteams::rpc {

// The core's gRPC server: Hooks on a unix socket.
class Server {
public:
    static std::unique_ptr<Server> start(std::string const& socket_path, app::Core& core, ServerLimits limits = {});
    virtual ~Server() = default;
    // Stops accepting calls and waits up to `grace` for running ones.
    virtual void shutdown(std::chrono::milliseconds grace) = 0;
};

}  // namespace msteams::rpc
