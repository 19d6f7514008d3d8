#pragma once

#include <cstddef>
#include <memory>

namespace grpc {
class Service;
}

namespace msteams::app {
class Core;
}

namespace msteams::rpc {

// The gRPC Hooks service over an app::Core. The Core must outlive the service.
// Beyond `max_concurrent_http` running ServeHTTP calls, more are answered 503 with Retry-After without reading them.
std::unique_ptr<grpc::Service> make_hooks_service(app::Core& core, std::size_t max_concurrent_http);

}  // namespace msteams::rpc
