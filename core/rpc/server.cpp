#include "rpc/server.hpp"

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <stdexcept>

#include "rpc/hooks_service.hpp"
#include "rpc/limits.hpp"

namespace msteams::rpc {
namespace {

class GrpcServer final : public Server {
public:
    GrpcServer(std::unique_ptr<grpc::Service> service, std::unique_ptr<grpc::Server> server)
        : service_(std::move(service)),
          server_(std::move(server)) {}

    ~GrpcServer() override { shutdown(std::chrono::milliseconds(0)); }

    void shutdown(std::chrono::milliseconds grace) override {
        if (server_) {
            server_->Shutdown(std::chrono::system_clock::now() + grace);
            server_->Wait();
            server_.reset();
        }
    }

private:
    std::unique_ptr<grpc::Service> service_;
    std::unique_ptr<grpc::Server> server_;
};

}  // namespace

std::unique_ptr<Server> Server::start(std::string const& socket_path, app::Core& core, ServerLimits limits) {
    auto service = make_hooks_service(core, limits.max_concurrent_http);
    grpc::ServerBuilder builder;
    grpc::ResourceQuota quota("msteams-hooks");
    quota.SetMaxThreads(limits.max_threads);
    builder.SetResourceQuota(quota);
    builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
    builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxHooksMessageBytes));
    builder.SetMaxSendMessageSize(static_cast<int>(kMaxHooksMessageBytes));
    builder.RegisterService(service.get());
    auto server = builder.BuildAndStart();
    if (!server) {
        throw std::runtime_error("cannot serve gRPC on unix:" + socket_path);
    }
    return std::make_unique<GrpcServer>(std::move(service), std::move(server));
}

}  // namespace msteams::rpc
