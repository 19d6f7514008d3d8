#include "rpc/hooks_service.hpp"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "app/core.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"
#include "common/version.hpp"
#include "msteams.grpc.pb.h"
#include "rpc/proto_mapping.hpp"
#include "rpc/limits.hpp"

namespace msteams::rpc {
namespace {

constexpr std::size_t k_response_chunk = 64 * 1024;
constexpr std::size_t k_max_events_per_batch = 10'000;

web::Request request_from_head(v1::HttpRequestHead const& head) {
    web::Request r;
    r.method = head.method();
    r.path = head.path();
    r.raw_query = head.raw_query();
    for (auto const& h : head.headers()) {
        auto const name = strings::to_lower(h.name());
        for (auto const& v : h.values()) {
            r.headers.emplace_back(name, v);
        }
    }
    r.user_id = MmUserId(head.user_id());  // Mattermost sets it for a valid session only
    r.source_plugin_id = head.source_plugin_id();
    r.remote_addr = head.remote_addr();
    r.declared_length = head.content_length() < 0 ? -1 : head.content_length();
    if (head.metrics_listener()) {
        // The server's metrics listener serves the plugin's exposition at its root, and nothing else of it.
        r.metrics_listener = true;
        r.path = r.path.empty() || r.path == "/" ? "/metrics" : "/metrics-listener" + r.path;
    }
    return r;
}

bool write_response(grpc::ServerReaderWriter<v1::HttpResponsePart, v1::HttpRequestPart>* stream,
                    web::Response const& response) {
    v1::HttpResponsePart head_part;
    auto* head = head_part.mutable_head();
    head->set_status(response.status);
    for (auto const& [name, value] : response.headers) {
        auto* h = head->add_headers();
        h->set_name(name);
        h->add_values(value);
    }
    if (!stream->Write(head_part)) {
        return false;
    }
    for (std::size_t off = 0; off < response.body.size(); off += k_response_chunk) {
        v1::HttpResponsePart body;
        body.set_body(response.body.substr(off, k_response_chunk));
        if (!stream->Write(body)) {
            return false;
        }
    }
    return true;
}

class HooksService final : public v1::Hooks::Service {
public:
    HooksService(app::Core& core, std::size_t max_concurrent_http)
        : core_(core),
          max_concurrent_http_(max_concurrent_http) {}

    grpc::Status Ping(grpc::ServerContext*, v1::PingRequest const*, v1::PingResponse* out) override {
        out->set_version(k_version);
        out->set_pid(::getpid());
        out->set_active(core_.active());
        return grpc::Status::OK;
    }

    grpc::Status Activate(grpc::ServerContext*, v1::Configuration const* in, v1::HookResult* out) override {
        return guarded("Activate", [&] {
            if (auto s = core_.activate(in->plugin_settings_json(), from_proto(in->server())); !s) {
                log::error("activation refused", {{"reason", s.error().message}});
                out->set_error(s.error().message);
            }
        });
    }

    grpc::Status ConfigurationChange(grpc::ServerContext*, v1::Configuration const* in, v1::HookResult* out) override {
        return guarded("ConfigurationChange", [&] {
            if (auto s = core_.configuration_change(in->plugin_settings_json(), from_proto(in->server())); !s) {
                log::error("configuration refused; the previous one stays in force", {{"reason", s.error().message}});
                out->set_error(s.error().message);
            }
        });
    }

    grpc::Status ValidateConfiguration(grpc::ServerContext*, v1::Configuration const* in,
                                       v1::HookResult* out) override {
        return guarded("ValidateConfiguration", [&] {
            if (auto s = core_.validate_configuration(in->plugin_settings_json(), from_proto(in->server())); !s) {
                out->set_error(s.error().message);
            }
        });
    }

    grpc::Status Deactivate(grpc::ServerContext*, v1::DeactivateRequest const*, v1::HookResult*) override {
        return guarded("Deactivate", [&] { core_.deactivate(); });
    }

    grpc::Status ExecuteCommand(grpc::ServerContext*, v1::CommandRequest const* in, v1::CommandResult* out) override {
        return guarded("ExecuteCommand", [&] {
            auto const response = core_.execute_command(from_proto(in->args()));
            to_proto(response, *out->mutable_response());
        });
    }

    grpc::Status ServeHTTP(grpc::ServerContext* context,
                           grpc::ServerReaderWriter<v1::HttpResponsePart, v1::HttpRequestPart>* stream) override {
        HttpSlot const slot(running_http_);
        if (slot.position() > max_concurrent_http_) {
            // Busy: answer at once, without reading the request, so that slow clients cannot hold every thread.
            ++busy_answers_;
            if ((busy_answers_.load() & 0xFF) == 1) {
                log::warn("too many HTTP requests at once; answering 503",
                          {{"limit", std::to_string(max_concurrent_http_)}});
            }
            write_response(stream, web::json_error(503, "busy", "The MS Teams plugin is busy. Try again shortly.")
                                       .set("Retry-After", kBusyRetryAfterSeconds));
            return grpc::Status::OK;
        }
        return guarded("ServeHTTP", [&] {
            v1::HttpRequestPart part;
            if (!stream->Read(&part) || !part.has_head()) {
                write_response(stream, web::json_error(400, "bad_request", "The request had no head."));
                return;
            }
            auto request = request_from_head(part.head());
            std::size_t const limit = core_.http_body_limit(request.method, request.path);
            auto const too_large = web::json_error(
                413, "too_large", "The request body is larger than " + std::to_string(limit) + " bytes.");
            if (limit > 0 && part.head().content_length() > static_cast<std::int64_t>(limit)) {
                write_response(stream, too_large);
                return;
            }
            // Read the body only for routes that take one, and never past their limit.
            if (limit > 0) {
                while (stream->Read(&part)) {
                    if (part.has_head()) {
                        write_response(stream, web::json_error(400, "bad_request", "The request had two heads."));
                        return;
                    }
                    if (request.body.size() + part.body().size() > limit) {
                        write_response(stream, too_large);
                        return;
                    }
                    request.body += part.body();
                }
                // Read() also ends when the shim cancels the stream (the client went away, the body could not be
                // read): that body is incomplete and is never handled.
                if (context->IsCancelled()) {
                    log::warn("HTTP request cancelled before its body was complete; ignored",
                              {{"path", request.path}, {"received", std::to_string(request.body.size())}});
                    return;
                }
                if (request.declared_length >= 0 &&
                    static_cast<std::uint64_t>(request.declared_length) != request.body.size()) {
                    write_response(stream, web::json_error(400, "incomplete_body",
                                                           "The request body is shorter or longer than its "
                                                           "Content-Length."));
                    return;
                }
            }
            write_response(stream, core_.serve_http(request));
        });
    }

    grpc::Status DeliverEvents(grpc::ServerContext*, v1::EventBatch const* in, v1::EventAck* out) override {
        return guarded("DeliverEvents", [&] {
            if (static_cast<std::size_t>(in->events_size()) > k_max_events_per_batch) {
                throw std::invalid_argument("too many events in one batch");
            }
            std::vector<app::HookEvent> events;
            events.reserve(static_cast<std::size_t>(in->events_size()));
            std::uint64_t skipped_through = 0;
            for (auto const& e : in->events()) {
                app::HookEvent event;
                if (from_proto(e, event)) {
                    events.push_back(std::move(event));
                } else {
                    log::warn("skipped a hook event of a kind this core does not know",
                              {{"seq", std::to_string(e.seq())}});
                    skipped_through = e.seq();
                }
            }
            std::uint64_t const handled = core_.deliver_events(events);
            out->set_handled_through(std::max(handled, skipped_through));
        });
    }

private:
    // Exceptions never cross the RPC boundary: they are logged and become INTERNAL.
    template <class F>
    grpc::Status guarded(char const* method, F&& f) {
        try {
            f();
            return grpc::Status::OK;
        } catch (std::exception const& e) {
            log::error("hook failed", {{"hook", method}, {"error", e.what()}});
            return grpc::Status(grpc::StatusCode::INTERNAL, std::string(method) + " failed: " + e.what());
        }
    }

    // Counts a running ServeHTTP call for as long as it lives; `position` is the count including this call.
    class HttpSlot {
    public:
        explicit HttpSlot(std::atomic<std::size_t>& running) : running_(running), position_(++running) {}
        ~HttpSlot() { --running_; }
        HttpSlot(HttpSlot const&) = delete;
        HttpSlot& operator=(HttpSlot const&) = delete;
        [[nodiscard]] std::size_t position() const noexcept { return position_; }

    private:
        std::atomic<std::size_t>& running_;
        std::size_t const position_;
    };

    app::Core& core_;
    std::size_t const max_concurrent_http_;
    std::atomic<std::size_t> running_http_{0};
    std::atomic<std::uint64_t> busy_answers_{0};
};

}  // namespace

std::unique_ptr<grpc::Service> make_hooks_service(app::Core& core, std::size_t max_concurrent_http) {
    return std::make_unique<HooksService>(core, max_concurrent_http);
}

}  // namespace msteams::rpc
