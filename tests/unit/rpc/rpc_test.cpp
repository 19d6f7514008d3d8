#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "../fake_api.hpp"
#include "app/core.hpp"
#include "msteams.grpc.pb.h"
#include "rpc/api_client.hpp"
#include "rpc/server.hpp"
#include "store/database.hpp"

namespace v1 = msteams::v1;

namespace {

std::string temp_socket(char const* name) {
    char tmpl[] = "/tmp/msteams-test-XXXXXX";
    char* dir = ::mkdtemp(tmpl);
    REQUIRE(dir != nullptr);
    return std::string(dir) + "/" + name;
}

// These tests exercise the gRPC boundary, not storage: the core gets no database (account features stay unused).
msteams::app::DatabaseOpener no_database() {
    return [](msteams::app::ServerSettings const&) -> msteams::Result<std::shared_ptr<msteams::store::Database>> {
        return std::shared_ptr<msteams::store::Database>{};
    };
}

struct Harness {
    std::shared_ptr<msteams::test::FakeApi> api = std::make_shared<msteams::test::FakeApi>();
    msteams::app::Core core{api, no_database()};
    std::string socket = temp_socket("hooks.sock");
    std::unique_ptr<msteams::rpc::Server> server = msteams::rpc::Server::start(socket, core);
    std::unique_ptr<v1::Hooks::Stub> stub =
        v1::Hooks::NewStub(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));

    ~Harness() {
        server->shutdown(std::chrono::milliseconds(100));
        std::filesystem::remove_all(std::filesystem::path(socket).parent_path());
    }

    v1::Configuration configuration(std::string settings) const {
        v1::Configuration c;
        c.set_plugin_settings_json(std::move(settings));
        auto* s = c.mutable_server();
        s->set_site_url("http://127.0.0.1:8065");
        s->set_sql_driver_name("postgres");
        s->set_sql_data_source("postgres://u:p@localhost/db");
        return c;
    }

    std::string activate(std::string settings) {
        grpc::ClientContext ctx;
        v1::HookResult result;
        auto const status = stub->Activate(&ctx, configuration(std::move(settings)), &result);
        REQUIRE(status.ok());
        return result.error();
    }

    // Sends head + body chunks, returns (status, headers, body).
    struct HttpResult {
        int status = 0;
        std::map<std::string, std::string> headers;
        std::string body;
    };
    HttpResult http(std::string method, std::string path, std::string query, std::vector<std::string> chunks,
                    std::int64_t content_length = -1) {
        grpc::ClientContext ctx;
        auto stream = stub->ServeHTTP(&ctx);
        v1::HttpRequestPart head;
        head.mutable_head()->set_method(std::move(method));
        head.mutable_head()->set_path(std::move(path));
        head.mutable_head()->set_raw_query(std::move(query));
        head.mutable_head()->set_content_length(content_length);
        stream->Write(head);
        for (auto& c : chunks) {
            v1::HttpRequestPart part;
            part.set_body(std::move(c));
            if (!stream->Write(part)) {
                break;  // the core answered early and stopped reading
            }
        }
        stream->WritesDone();
        HttpResult out;
        v1::HttpResponsePart part;
        while (stream->Read(&part)) {
            if (part.has_head()) {
                out.status = part.head().status();
                for (auto const& h : part.head().headers()) {
                    out.headers[h.name()] = h.values(0);
                }
            } else {
                out.body += part.body();
            }
        }
        REQUIRE(stream->Finish().ok());
        return out;
    }
};

}  // namespace

TEST_CASE("rpc: Ping answers before activation, and reports activation", "[rpc]") {
    Harness h;
    grpc::ClientContext ctx;
    v1::PingResponse pong;
    REQUIRE(h.stub->Ping(&ctx, v1::PingRequest{}, &pong).ok());
    CHECK(pong.pid() == ::getpid());
    CHECK_FALSE(pong.active());
    REQUIRE(h.activate(msteams::test::valid_settings_json()).empty());
    grpc::ClientContext ctx2;
    REQUIRE(h.stub->Ping(&ctx2, v1::PingRequest{}, &pong).ok());
    CHECK(pong.active());
}

TEST_CASE("rpc: activation with bad settings is refused with a message naming the setting", "[rpc]") {
    Harness h;
    auto const error = h.activate(R"({"tenantid":"8e7c2c3a-6a8b-4b6e-9d7e-2f0a1c9b5d41"})");
    CHECK_THAT(error, Catch::Contains("Client ID (clientId) is required"));
    CHECK_FALSE(h.core.active());
    CHECK(h.api->commands.empty());
}

TEST_CASE("rpc: activation ensures the bot, registers /msteams and saves generated secrets", "[rpc]") {
    Harness h;
    auto settings = nlohmann::json::parse(msteams::test::valid_settings_json());
    settings.erase("webhooksecret");
    REQUIRE(h.activate(settings.dump()).empty());
    REQUIRE(h.api->bots.size() == 1);
    CHECK(h.api->bots[0].username == "msteams");
    REQUIRE(h.api->commands.size() == 1);
    CHECK(h.api->commands[0].trigger == "msteams");
    REQUIRE(h.api->saved_configs.size() == 1);
    auto const saved = nlohmann::json::parse(h.api->saved_configs[0]);
    CHECK(saved["webhooksecret"].get<std::string>().size() == 32);
    CHECK(h.core.config()->webhook_secret == saved["webhooksecret"]);
}

TEST_CASE("rpc: an unreachable database refuses activation with the reason", "[rpc]") {
    auto api = std::make_shared<msteams::test::FakeApi>();
    msteams::app::Core core(api, [](msteams::app::ServerSettings const&)
                                     -> msteams::Result<std::shared_ptr<msteams::store::Database>> {
        return msteams::fail(msteams::ErrorCode::unavailable, "connection refused");
    });
    auto const s = core.activate(msteams::test::valid_settings_json(), msteams::test::valid_server());
    REQUIRE_FALSE(s.has_value());
    CHECK_THAT(s.error().message, Catch::Contains("cannot use the Mattermost database: connection refused"));
    CHECK_FALSE(core.active());
}

TEST_CASE("rpc: a failing bot refuses activation with the reason", "[rpc]") {
    Harness h;
    h.api->fail_bot = true;
    CHECK_THAT(h.activate(msteams::test::valid_settings_json()), Catch::Contains("msteams bot") &&
                                                                     Catch::Contains("bot creation failed"));
}

TEST_CASE("rpc: ExecuteCommand answers the help text", "[rpc]") {
    Harness h;
    REQUIRE(h.activate(msteams::test::valid_settings_json()).empty());
    grpc::ClientContext ctx;
    v1::CommandRequest req;
    req.mutable_args()->set_command("/msteams");
    req.mutable_args()->set_user_id("user1");
    v1::CommandResult result;
    REQUIRE(h.stub->ExecuteCommand(&ctx, req, &result).ok());
    CHECK(result.response().response_type() == "ephemeral");
    CHECK_THAT(result.response().text(), Catch::Contains("/msteams help"));
    CHECK_FALSE(result.has_error());
}

TEST_CASE("rpc: ServeHTTP streams the request in and the response out", "[rpc]") {
    Harness h;
    REQUIRE(h.activate(msteams::test::valid_settings_json()).empty());
    auto const r = h.http("POST", "/changes", "validationToken=abc%2Fdef", {"ignored ", "body"});
    CHECK(r.status == 200);
    CHECK(r.body == "abc/def");
    CHECK_THAT(r.headers.at("Content-Type"), Catch::StartsWith("text/plain"));
}

TEST_CASE("rpc: ServeHTTP answers 413 as soon as a body passes the route's limit", "[rpc]") {
    Harness h;
    REQUIRE(h.activate(msteams::test::valid_settings_json()).empty());
    // Announced too large: refused before any body is read.
    auto const announced = h.http("POST", "/changes", "", {}, 2 << 20);
    CHECK(announced.status == 413);
    // Streamed past the limit in 64 KiB chunks without a Content-Length.
    std::vector<std::string> chunks(20, std::string(64 * 1024, 'x'));
    auto const streamed = h.http("POST", "/changes", "", chunks);
    CHECK(streamed.status == 413);
    CHECK_THAT(streamed.body, Catch::Contains("larger than 1048576 bytes"));
}

TEST_CASE("rpc: a large response body arrives complete, in chunks", "[rpc]") {
    Harness h;
    REQUIRE(h.activate(msteams::test::valid_settings_json()).empty());
    std::string const token(4000, 'k');
    auto const r = h.http("POST", "/lifecycle", "validationToken=" + token, {});
    CHECK(r.status == 200);
    CHECK(r.body == token);
}

TEST_CASE("rpc: DeliverEvents acknowledges through the last event handled", "[rpc]") {
    Harness h;
    grpc::ClientContext ctx;
    v1::EventBatch batch;
    batch.set_shim_instance("test");
    for (std::uint64_t seq = 7; seq <= 9; ++seq) {
        auto* e = batch.add_events();
        e->set_seq(seq);
        e->mutable_message_posted()->set_id("post" + std::to_string(seq));
    }
    auto* unknown = batch.add_events();  // a kind this core does not know: skipped, still acknowledged
    unknown->set_seq(10);
    v1::EventAck ack;
    REQUIRE(h.stub->DeliverEvents(&ctx, batch, &ack).ok());
    CHECK(ack.handled_through() == 10);
}

namespace {

// The shim's side, faked in C++: answers with AppErrors to test their mapping.
class FakeMattermostApi final : public v1::MattermostApi::Service {
public:
    grpc::Status GetUser(grpc::ServerContext*, v1::IdRequest const* req, v1::UserResponse* out) override {
        if (req->id() == "missing") {
            auto* e = out->mutable_error();
            e->set_id("app.user.missing.app_error");
            e->set_message("Unable to find the user.");
            e->set_detailed_error("resource: User id: missing");
            e->set_status_code(404);
            return grpc::Status::OK;
        }
        out->mutable_user()->set_id(req->id());
        out->mutable_user()->set_username("alice");
        return grpc::Status::OK;
    }
    grpc::Status HasPermissionTo(grpc::ServerContext*, v1::PermissionRequest const* req,
                                 v1::BoolResponse* out) override {
        out->set_value(req->user_id() == "admin");
        return grpc::Status::OK;
    }
};

}  // namespace

TEST_CASE("rpc: the API client carries Mattermost's errors faithfully", "[rpc]") {
    auto const socket = temp_socket("api.sock");
    FakeMattermostApi service;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + socket, grpc::InsecureServerCredentials());
    builder.RegisterService(&service);
    auto server = builder.BuildAndStart();
    REQUIRE(server);

    msteams::rpc::ApiClient client(socket, std::chrono::seconds(5));
    auto const alice = client.get_user("u1");
    REQUIRE(alice.has_value());
    CHECK(alice->username == "alice");

    auto const missing = client.get_user("missing");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == msteams::ErrorCode::not_found);
    CHECK(missing.error().http_status == 404);
    CHECK_THAT(missing.error().message, Catch::Contains("Unable to find the user.") &&
                                            Catch::Contains("resource: User id: missing") &&
                                            Catch::Contains("app.user.missing.app_error"));
    CHECK(client.has_permission_to("admin", "manage_system").value());
    CHECK_FALSE(client.has_permission_to("bob", "manage_system").value());

    // A method the fake does not implement is a transport-level failure, reported as such.
    auto const unimplemented = client.get_channel("c1");
    REQUIRE_FALSE(unimplemented.has_value());
    CHECK(unimplemented.error().code == msteams::ErrorCode::unavailable);
    server->Shutdown();
    std::filesystem::remove_all(std::filesystem::path(socket).parent_path());
}

TEST_CASE("rpc: the API client reports an absent shim as unavailable within its deadline", "[rpc]") {
    msteams::rpc::ApiClient client("/tmp/msteams-no-such-dir/api.sock", std::chrono::milliseconds(300));
    auto const start = std::chrono::steady_clock::now();
    auto const r = client.get_user("u1");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == msteams::ErrorCode::unavailable);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}
