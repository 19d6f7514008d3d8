#pragma once

#include <memory>

namespace grpc {
class Service;
}

namespace msteams::app {
class Core;
}

namespace msteams::rpc {

// The gRPC Hooks service over an app::Core. The Core must outlive the service.
std::unique_ptr<grpc::Service> make_hooks_service(app::Core& core);

}  // namespace msteams::rpc
