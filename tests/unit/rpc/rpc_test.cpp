#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "test_ids.hpp"
#include "../fake_api.hpp"
#include "app/core.hpp"
#include "msteams.grpc.pb.h"
#include "rpc/api_client.hpp"
#include "rpc/limits.hpp"
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
    Harness() = default;
    explicit Harness(msteams::rpc::ServerLimits l) : limits(l) {}

    msteams::rpc::ServerLimits limits;
    std::shared_ptr<msteams::test::FakeApi> api = std::make_shared<msteams::test::FakeApi>();
    msteams::app::Core core{api, no_database()};
    std::string socket = temp_socket("hooks.sock");
    std::unique_ptr<msteams::rpc::Server> server = msteams::rpc::Server::start(socket, core, limits);
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

// The number of threads of this process.
int thread_count() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Threads:", 0) == 0) {
            return std::stoi(line.substr(8));
        }
    }
    return -1;
}

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
    auto const error = h.activate(R"({"tenantid":"8e7c2c3a-6a8b-4b6e-9d7e-2f0a1c9b5d41","clientid":"nope"})");
    CHECK_THAT(error, Catch::Contains("Client ID (clientId) must be a GUID"));
    CHECK_FALSE(h.core.active());
    CHECK(h.api->commands.empty());
}

namespace {

std::string command(Harness& h, std::string const& user, std::string const& text) {
    grpc::ClientContext ctx;
    v1::CommandRequest req;
    req.mutable_args()->set_command(text);
    req.mutable_args()->set_user_id(user);
    req.mutable_args()->set_channel_id("channel1");
    v1::CommandResult result;
    REQUIRE(h.stub->ExecuteCommand(&ctx, req, &result).ok());
    REQUIRE_FALSE(h.api->ephemerals.empty());
    return h.api->ephemerals.back().second.message;
}

}  // namespace

TEST_CASE("rpc: enabled before it is configured, the plugin runs and waits — saved settings start it", "[rpc]") {
    Harness h;
    h.api->admins.insert("admin1");
    REQUIRE(h.activate("{}").empty());
    CHECK(h.core.active());
    CHECK(h.core.logins() == nullptr);  // nothing that talks to Microsoft exists
    REQUIRE(h.api->commands.size() == 1);
    REQUIRE(h.api->saved_configs.size() == 1);  // the secrets are generated all the same
    CHECK_THAT(command(h, "user1", "/msteams connect"),
               Catch::Contains("not set up yet") && !Catch::Contains("System Console"));
    CHECK_THAT(command(h, "admin1", "/msteams connect"),
               Catch::Contains("not set up yet") && Catch::Contains("Tenant ID (tenantId)") &&
                   Catch::Contains("Client ID (clientId)") && Catch::Contains("Client secret (clientSecret)") &&
                   Catch::Contains("http://127.0.0.1:8065/plugins/com.mattermost.msteams/oauth-redirect"));
    CHECK_THAT(command(h, "user1", "/msteams"), Catch::Contains("/msteams help"));  // help still answers

    auto const configured =
        h.core.configuration_change(msteams::test::valid_settings_json(), msteams::test::valid_server());
    REQUIRE(configured.has_value());
    CHECK(h.core.config()->configured());
    CHECK_THAT(command(h, "user1", "/msteams status"), !Catch::Contains("not set up"));
}

TEST_CASE("rpc: settings saved without the check are not applied — admins see every problem in status", "[rpc]") {
    Harness h;
    h.api->admins.insert("admin1");
    REQUIRE(h.activate(msteams::test::valid_settings_json()).empty());
    auto settings = nlohmann::json::parse(msteams::test::valid_settings_json());
    settings["graphchatreadsperminute"] = 20000;
    settings["reconcileintervalminutes"] = 2000;
    auto const changed = h.core.configuration_change(settings.dump(), msteams::test::valid_server());
    REQUIRE_FALSE(changed.has_value());
    CHECK(h.core.config()->chat_reads_per_minute == 60);
    CHECK_THAT(h.core.problems(), Catch::Contains("Graph reads per chat per minute (graphChatReadsPerMinute)") &&
                                      Catch::Contains("(reconcileIntervalMinutes)"));
    // (status itself needs the database this harness lacks; the help carries the same notice)
    CHECK_THAT(command(h, "admin1", "/msteams help"), Catch::Contains("were not applied") &&
                                                          Catch::Contains("graphChatReadsPerMinute") &&
                                                          Catch::Contains("reconcileIntervalMinutes"));
    CHECK_THAT(command(h, "user1", "/msteams help"), !Catch::Contains("graphChatReadsPerMinute"));
    // Fixed: nothing left to tell.
    REQUIRE(h.core.configuration_change(msteams::test::valid_settings_json(), msteams::test::valid_server()));
    CHECK(h.core.problems().empty());
}

TEST_CASE("rpc: ValidateConfiguration names every problem and applies nothing", "[rpc]") {
    Harness h;
    REQUIRE(h.activate(msteams::test::valid_settings_json()).empty());
    auto settings = nlohmann::json::parse(msteams::test::valid_settings_json());
    settings["graphchatreadsperminute"] = 20000;
    settings["reconcileintervalminutes"] = 2000;
    settings["maxfilesizetomattermostmb"] = -5;
    grpc::ClientContext ctx;
    v1::HookResult result;
    REQUIRE(h.stub->ValidateConfiguration(&ctx, h.configuration(settings.dump()), &result).ok());
    CHECK_THAT(result.error(), Catch::Contains("graphChatReadsPerMinute") &&
                                   Catch::Contains("reconcileIntervalMinutes") &&
                                   Catch::Contains("maxFileSizeToMattermostMb"));
    CHECK(h.core.config()->chat_reads_per_minute == 60);
    grpc::ClientContext ctx2;
    REQUIRE(h.stub->ValidateConfiguration(&ctx2, h.configuration("{}"), &result).ok());
    CHECK(result.error().empty());  // not set up yet is no problem
    CHECK(h.api->saved_configs.empty());
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
    msteams::app::Core core(
        api, [](msteams::app::ServerSettings const&) -> msteams::Result<std::shared_ptr<msteams::store::Database>> {
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
    CHECK_THAT(h.activate(msteams::test::valid_settings_json()),
               Catch::Contains("msteams bot") && Catch::Contains("bot creation failed"));
}

TEST_CASE("rpc: ExecuteCommand answers the help text, as the bot", "[rpc]") {
    Harness h;
    REQUIRE(h.activate(msteams::test::valid_settings_json()).empty());
    grpc::ClientContext ctx;
    v1::CommandRequest req;
    req.mutable_args()->set_command("/msteams");
    req.mutable_args()->set_user_id("user1");
    req.mutable_args()->set_channel_id("channel1");
    v1::CommandResult result;
    REQUIRE(h.stub->ExecuteCommand(&ctx, req, &result).ok());
    CHECK_FALSE(result.has_error());
    // Mattermost would show an inline reply as "System": the reply is an ephemeral post of the bot's.
    CHECK(result.response().text().empty());
    REQUIRE(h.api->ephemerals.size() == 1);
    auto const& [to, post] = h.api->ephemerals[0];
    CHECK(to == "user1");
    CHECK(post.user_id == "botuserid00000000000000000");
    CHECK(post.channel_id == "channel1");
    CHECK_THAT(post.message, Catch::Contains("/msteams help"));
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

TEST_CASE("rpc: ServeHTTP refuses a body that ends before its Content-Length", "[rpc]") {
    Harness h;
    REQUIRE(h.activate(msteams::test::valid_settings_json()).empty());
    // A notification cut short by a client disconnect, closed as if complete: never handled.
    std::string const cut = R"({"value":[{"subscriptionId":"s","clientState":"x","changeType":"created",)";
    auto const r = h.http("POST", "/changes", "", {cut}, static_cast<std::int64_t>(cut.size()) + 200);
    CHECK(r.status == 400);
    CHECK_THAT(r.body, Catch::Contains("incomplete_body"));
    auto const longer = h.http("POST", "/changes", "", {cut}, 10);
    CHECK(longer.status == 400);
}

TEST_CASE("rpc: slow HTTP requests beyond the cap get 503 with Retry-After — the core's threads stay bounded",
          "[rpc]") {
    constexpr std::size_t k_cap = 8;
    constexpr std::size_t k_slow = 40;
    Harness h(msteams::rpc::ServerLimits{k_cap, 64});
    REQUIRE(h.activate(msteams::test::valid_settings_json()).empty());
    int const baseline = thread_count();

    // 40 clients send a head and the first byte of a body, then stall: each holds a core thread while it waits.
    struct Slow {
        grpc::ClientContext ctx;
        std::unique_ptr<grpc::ClientReaderWriter<v1::HttpRequestPart, v1::HttpResponsePart>> stream;
        int status = 0;
        std::string retry_after;
        std::string body;
    };
    std::vector<std::unique_ptr<Slow>> slow;
    std::mutex mutex;
    std::condition_variable answered_cv;
    std::size_t answered = 0;
    std::size_t busy = 0;
    std::vector<std::thread> readers;
    for (std::size_t i = 0; i < k_slow; ++i) {
        auto s = std::make_unique<Slow>();
        s->stream = h.stub->ServeHTTP(&s->ctx);
        v1::HttpRequestPart head;
        head.mutable_head()->set_method("POST");
        head.mutable_head()->set_path("/changes");
        head.mutable_head()->set_raw_query("validationToken=ok");
        head.mutable_head()->set_content_length(-1);
        // A busy answer may come (and the call end) before the client wrote everything: writes can fail.
        if (s->stream->Write(head)) {
            v1::HttpRequestPart first;
            first.set_body("x");
            s->stream->Write(first);
        }
        readers.emplace_back([&, c = s.get()] {
            v1::HttpResponsePart part;
            while (c->stream->Read(&part)) {
                if (part.has_head()) {
                    std::lock_guard lock(mutex);
                    c->status = part.head().status();
                    for (auto const& hd : part.head().headers()) {
                        if (hd.name() == "Retry-After") {
                            c->retry_after = hd.values(0);
                        }
                    }
                    ++answered;
                    busy += c->status == 503 ? 1 : 0;
                    answered_cv.notify_all();
                } else {
                    c->body += part.body();
                }
            }
        });
        slow.push_back(std::move(s));
    }
    {
        std::unique_lock lock(mutex);
        CHECK(answered_cv.wait_for(lock, std::chrono::seconds(30), [&] { return busy >= k_slow - k_cap; }));
    }
    // This process runs the 40 client readers too: the core's own share stays near the cap, not one per request.
    int const during = thread_count();
    INFO("threads: baseline " << baseline << ", during " << during);
    CHECK(during <= baseline + static_cast<int>(k_slow + k_cap) + 24);

    // The stalled clients finish their bodies: each gets its real answer; the core is still up.
    for (auto& s : slow) {
        s->stream->WritesDone();
    }
    for (auto& r : readers) {
        r.join();
    }
    std::size_t ok = 0;
    for (auto& s : slow) {
        CHECK(s->stream->Finish().ok());
        if (s->status == 503) {
            CHECK(s->retry_after == msteams::rpc::kBusyRetryAfterSeconds);
            CHECK_THAT(s->body, Catch::Contains("busy"));
        } else {
            CHECK(s->status == 200);
            CHECK(s->body == "ok");
            ++ok;
        }
    }
    CHECK(answered == k_slow);
    CHECK(busy >= k_slow - k_cap);
    CHECK(ok + busy == k_slow);
    CHECK(h.http("POST", "/changes", "validationToken=after", {}).body == "after");
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
        out->mutable_user()->set_deactivated(req->id() == "gone");
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
    auto const alice = client.get_user(msteams::MmUserId("u1"));
    REQUIRE(alice.has_value());
    CHECK(alice->username == "alice");
    CHECK_FALSE(alice->deactivated);
    CHECK(client.get_user(msteams::MmUserId("gone"))->deactivated);

    auto const missing = client.get_user(msteams::MmUserId("missing"));
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == msteams::ErrorCode::not_found);
    CHECK(missing.error().http_status == 404);
    CHECK_THAT(missing.error().message, Catch::Contains("Unable to find the user.") &&
                                            Catch::Contains("resource: User id: missing") &&
                                            Catch::Contains("app.user.missing.app_error"));
    CHECK(client.has_permission_to(msteams::MmUserId("admin"), "manage_system").value());
    CHECK_FALSE(client.has_permission_to(msteams::MmUserId("bob"), "manage_system").value());

    // A method the fake does not implement is a transport-level failure, reported as such.
    auto const unimplemented = client.get_channel(msteams::MmChannelId("c1"));
    REQUIRE_FALSE(unimplemented.has_value());
    CHECK(unimplemented.error().code == msteams::ErrorCode::unavailable);
    server->Shutdown();
    std::filesystem::remove_all(std::filesystem::path(socket).parent_path());
}

TEST_CASE("rpc: the API client reports an absent shim as unavailable within its deadline", "[rpc]") {
    msteams::rpc::ApiClient client("/tmp/msteams-no-such-dir/api.sock", std::chrono::milliseconds(300));
    auto const start = std::chrono::steady_clock::now();
    auto const r = client.get_user(msteams::MmUserId("u1"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == msteams::ErrorCode::unavailable);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

namespace {

void set_app_error(v1::AppError* e, int status, std::string id, std::string message) {
    e->set_status_code(status);
    e->set_id(std::move(id));
    e->set_message(std::move(message));
}

// The shim's side for the sync calls: records what the core sent and answers from fixed data; an id "missing" (or
// "forbidden") answers with an AppError.
class SyncFakeApi final : public v1::MattermostApi::Service {
public:
    v1::CreateUserRequest created_user;
    v1::UserRequest updated_user;
    v1::PreferenceRequest preference;
    v1::UserActiveRequest user_active;
    v1::TeamMemberRequest team_member;
    std::map<std::string, std::string> session_props;
    v1::UserIdsRequest group;
    v1::ChannelMembersRequest members;
    v1::PostRequest updated_post;
    std::vector<std::string> deleted_posts;
    v1::PostsSinceRequest posts_since;
    v1::ReactionRequest added_reaction;
    v1::ReactionRequest removed_reaction;
    v1::UploadFileRequest upload;
    std::atomic<int> uploads{0};

    grpc::Status CreateUser(grpc::ServerContext*, v1::CreateUserRequest const* req, v1::UserResponse* out) override {
        created_user = *req;
        if (req->user().username() == "taken") {
            set_app_error(out->mutable_error(), 400, "app.user.save.username_exists.app_error",
                          "An account with that username already exists.");
            return grpc::Status::OK;
        }
        *out->mutable_user() = req->user();
        out->mutable_user()->set_id("new-user");
        return grpc::Status::OK;
    }
    grpc::Status UpdateUser(grpc::ServerContext*, v1::UserRequest const* req, v1::UserResponse* out) override {
        updated_user = *req;
        *out->mutable_user() = req->user();
        out->mutable_user()->set_nickname("changed by the server");
        return grpc::Status::OK;
    }
    grpc::Status UpdateUserActive(grpc::ServerContext*, v1::UserActiveRequest const* req,
                                  v1::ErrorResponse* out) override {
        user_active = *req;
        if (req->user_id() == "missing") {
            set_app_error(out->mutable_error(), 404, "app.user.missing", "Unable to find the user.");
        }
        return grpc::Status::OK;
    }
    grpc::Status GetTeamIdsForUser(grpc::ServerContext*, v1::IdRequest const* req, v1::IdsResponse* out) override {
        if (req->id() == "missing") {
            set_app_error(out->mutable_error(), 404, "app.user.missing", "Unable to find the user.");
            return grpc::Status::OK;
        }
        out->add_ids("team-1");
        out->add_ids("team-2");
        return grpc::Status::OK;
    }
    grpc::Status CreateSession(grpc::ServerContext*, v1::CreateSessionRequest const* req,
                               v1::SessionResponse* out) override {
        if (req->user_id() == "gone") {
            set_app_error(out->mutable_error(), 403, "msteams.session.refused", "This account cannot sign in.");
            return grpc::Status::OK;
        }
        session_props = std::map<std::string, std::string>(req->props().begin(), req->props().end());
        out->set_token("session-token");
        out->set_user_id(req->user_id());
        out->set_csrf("csrf-token");
        out->set_expires_at(1'900'000'000'000);
        return grpc::Status::OK;
    }
    grpc::Status GetGroupNamesForUser(grpc::ServerContext*, v1::IdRequest const* req, v1::IdsResponse* out) override {
        if (req->id() == "missing") {
            set_app_error(out->mutable_error(), 404, "app.user.missing", "Unable to find the user.");
            return grpc::Status::OK;
        }
        out->add_ids("developers");
        return grpc::Status::OK;
    }
    grpc::Status CreateTeamMember(grpc::ServerContext*, v1::TeamMemberRequest const* req,
                                  v1::ErrorResponse* out) override {
        team_member = *req;
        if (req->team_id() == "forbidden") {
            set_app_error(out->mutable_error(), 400, "app.team.join_user_to_team.allowed_domains.app_error",
                          "The user cannot be added: the team's allowed domains do not include their email.");
        }
        return grpc::Status::OK;
    }
    grpc::Status UpdatePreference(grpc::ServerContext*, v1::PreferenceRequest const* req,
                                  v1::ErrorResponse* out) override {
        preference = *req;
        if (req->user_id() == "missing") {
            set_app_error(out->mutable_error(), 404, "app.user.missing", "Unable to find the user.");
        }
        return grpc::Status::OK;
    }
    grpc::Status GetGroupChannel(grpc::ServerContext*, v1::UserIdsRequest const* req,
                                 v1::ChannelResponse* out) override {
        group = *req;
        if (req->user_ids_size() < 3) {
            set_app_error(out->mutable_error(), 400, "api.channel.create_group.bad_size.app_error",
                          "Group message channels must contain at least 3 and no more than 8 users.");
            return grpc::Status::OK;
        }
        out->mutable_channel()->set_id("gm1");
        out->mutable_channel()->set_type("G");
        return grpc::Status::OK;
    }
    grpc::Status GetChannelMemberIds(grpc::ServerContext*, v1::ChannelMembersRequest const* req,
                                     v1::IdsResponse* out) override {
        members = *req;
        if (req->channel_id() == "forbidden") {
            set_app_error(out->mutable_error(), 403, "api.context.permissions.app_error", "No permission.");
            return grpc::Status::OK;
        }
        out->add_ids("u1");
        out->add_ids("u2");
        return grpc::Status::OK;
    }
    grpc::Status GetChannelMember(grpc::ServerContext*, v1::ChannelMemberRequest const* req,
                                  v1::ChannelMemberResponse* out) override {
        if (req->user_id() != "u1") {
            set_app_error(out->mutable_error(), 404, "app.channel.get_member.missing.app_error", "No member.");
            return grpc::Status::OK;
        }
        out->set_last_viewed_at(4242);
        (*out->mutable_notify_props())["ignore_channel_mentions"] = "on";
        return grpc::Status::OK;
    }
    grpc::Status GetUserStatus(grpc::ServerContext*, v1::IdRequest const* req, v1::UserStatusResponse* out) override {
        out->set_status(req->id() == "u1" ? "online" : "offline");
        out->set_last_activity_at(77);
        return grpc::Status::OK;
    }
    grpc::Status GetPost(grpc::ServerContext*, v1::IdRequest const* req, v1::PostResponse* out) override {
        if (req->id() == "missing") {
            set_app_error(out->mutable_error(), 404, "app.post.get.app_error", "Unable to get the post.");
            return grpc::Status::OK;
        }
        auto* p = out->mutable_post();
        p->set_id(req->id());
        p->set_channel_id("c1");
        p->set_message("hello");
        p->set_props_json(R"({"msteams_id":"m1"})");
        p->add_file_ids("f1");
        p->set_update_at(5);
        return grpc::Status::OK;
    }
    grpc::Status UpdatePost(grpc::ServerContext*, v1::PostRequest const* req, v1::PostResponse* out) override {
        updated_post = *req;
        *out->mutable_post() = req->post();
        out->mutable_post()->set_update_at(3000);
        return grpc::Status::OK;
    }
    grpc::Status DeletePost(grpc::ServerContext*, v1::IdRequest const* req, v1::ErrorResponse* out) override {
        deleted_posts.push_back(req->id());
        if (req->id() == "missing") {
            set_app_error(out->mutable_error(), 404, "app.post.get.app_error", "Unable to get the post.");
        } else if (req->id() == "gone") {
            // What Mattermost answers for a post that is already deleted.
            set_app_error(out->mutable_error(), 400, "app.post.get.app_error", "Unable to get the post.");
        }
        return grpc::Status::OK;
    }
    grpc::Status GetPostsSince(grpc::ServerContext*, v1::PostsSinceRequest const* req,
                               v1::PostsResponse* out) override {
        posts_since = *req;
        for (int i = 1; i <= 3; ++i) {
            auto* p = out->add_posts();
            p->set_id("p" + std::to_string(i));
            p->set_create_at(req->since() + i);
            p->set_delete_at(i == 2 ? req->since() + 10 : 0);
        }
        return grpc::Status::OK;
    }
    grpc::Status GetPostThread(grpc::ServerContext*, v1::IdRequest const* req, v1::PostThreadResponse* out) override {
        if (req->id() == "missing") {
            set_app_error(out->mutable_error(), 404, "app.post.get.app_error", "Unable to get the post.");
            return grpc::Status::OK;
        }
        for (auto const* id : {"root", "r1"}) {
            auto* p = out->add_posts();
            p->set_id(id);
            p->set_user_id(std::string("author-of-") + id);
            p->set_root_id(std::string(id) == "root" ? "" : "root");
            p->set_message(std::string("@bob in ") + id);
        }
        out->set_truncated(true);
        return grpc::Status::OK;
    }
    grpc::Status AddReaction(grpc::ServerContext*, v1::ReactionRequest const* req, v1::ReactionResponse* out) override {
        added_reaction = *req;
        *out->mutable_reaction() = req->reaction();
        out->mutable_reaction()->set_create_at(4000);
        return grpc::Status::OK;
    }
    grpc::Status RemoveReaction(grpc::ServerContext*, v1::ReactionRequest const* req, v1::ErrorResponse* out) override {
        removed_reaction = *req;
        if (req->reaction().post_id() == "missing") {
            set_app_error(out->mutable_error(), 404, "app.reaction.get.app_error", "No reaction.");
        }
        return grpc::Status::OK;
    }
    grpc::Status GetReactions(grpc::ServerContext*, v1::IdRequest const* req, v1::ReactionsResponse* out) override {
        for (auto const* emoji : {"+1", "smile"}) {
            auto* r = out->add_reactions();
            r->set_post_id(req->id());
            r->set_user_id("u1");
            r->set_emoji_name(emoji);
        }
        return grpc::Status::OK;
    }
    grpc::Status UploadFile(grpc::ServerContext*, v1::UploadFileRequest const* req,
                            v1::FileInfoResponse* out) override {
        ++uploads;
        upload = *req;
        if (req->channel_id() == "missing") {
            set_app_error(out->mutable_error(), 400, "api.file.upload_file.incorrect_channelId.app_error",
                          "Unable to upload the file. Incorrect channel ID.");
            return grpc::Status::OK;
        }
        auto* f = out->mutable_file_info();
        f->set_id("file1");
        f->set_user_id("nouser");
        f->set_channel_id(req->channel_id());
        f->set_name(req->name());
        f->set_extension("png");
        f->set_size(static_cast<std::int64_t>(req->data().size()));
        f->set_mime_type("image/png");
        return grpc::Status::OK;
    }
    grpc::Status GetFileInfo(grpc::ServerContext*, v1::IdRequest const* req, v1::FileInfoResponse* out) override {
        if (req->id() == "missing") {
            set_app_error(out->mutable_error(), 404, "app.file_info.get.app_error", "Unable to get the file info.");
            return grpc::Status::OK;
        }
        out->mutable_file_info()->set_id(req->id());
        out->mutable_file_info()->set_post_id("p1");
        out->mutable_file_info()->set_size(5);
        return grpc::Status::OK;
    }
    grpc::Status GetFile(grpc::ServerContext*, v1::IdRequest const* req, v1::FileResponse* out) override {
        if (req->id() == "missing") {
            set_app_error(out->mutable_error(), 404, "app.file_info.get.app_error", "Unable to get the file.");
            return grpc::Status::OK;
        }
        // The last upload's data, so that a large file round-trips in both directions.
        out->set_data(upload.data());
        return grpc::Status::OK;
    }
};

// Serves `service` on a fresh unix socket with the shim's message limits.
struct ApiServer {
    std::string socket = temp_socket("api.sock");
    std::unique_ptr<grpc::Server> server;

    explicit ApiServer(grpc::Service& service) {
        grpc::ServerBuilder builder;
        builder.AddListeningPort("unix:" + socket, grpc::InsecureServerCredentials());
        builder.SetMaxReceiveMessageSize(static_cast<int>(msteams::rpc::kMaxApiMessageBytes));
        builder.SetMaxSendMessageSize(static_cast<int>(msteams::rpc::kMaxApiMessageBytes));
        builder.RegisterService(&service);
        server = builder.BuildAndStart();
        REQUIRE(server);
    }
    ~ApiServer() {
        server->Shutdown();
        std::filesystem::remove_all(std::filesystem::path(socket).parent_path());
    }
};

}  // namespace

TEST_CASE("rpc: the API client creates and updates users and preferences", "[rpc]") {
    SyncFakeApi service;
    ApiServer srv(service);
    msteams::rpc::ApiClient client(srv.socket, std::chrono::seconds(5));

    msteams::mm::User u;
    u.username = "msteams_alice";
    u.email = "alice@example.com";
    u.first_name = "Alice";
    u.last_name = "Liddell";
    u.auth_service = "gitlab";
    u.auth_data = "entra-object-id";
    u.props = {{"msteams_user_id", "t1"}};
    auto const created = client.create_user(u, "s3cret!");
    REQUIRE(created.has_value());
    CHECK(created->id == "new-user");
    CHECK(created->auth_service == "gitlab");
    CHECK(created->auth_data == "entra-object-id");
    CHECK(created->last_name == "Liddell");
    CHECK(created->props == u.props);
    CHECK(service.created_user.password() == "s3cret!");
    CHECK(service.created_user.user().first_name() == "Alice");
    CHECK(service.created_user.user().email() == "alice@example.com");

    u.username = "taken";
    auto const taken = client.create_user(u, "");
    REQUIRE_FALSE(taken.has_value());
    CHECK(taken.error().code == msteams::ErrorCode::invalid_argument);
    CHECK_THAT(taken.error().message, Catch::Contains("already exists"));

    u.id = msteams::MmUserId("new-user");
    u.username = "alice2";
    auto const updated = client.update_user(u);
    REQUIRE(updated.has_value());
    CHECK(updated->username == "alice2");
    CHECK(updated->nickname == "changed by the server");
    CHECK(service.updated_user.user().id() == "new-user");
    CHECK(service.updated_user.user().props().at("msteams_user_id") == "t1");

    REQUIRE(client.update_preference(msteams::MmUserId("u1"), "notifications", "email_interval", "0").has_value());
    CHECK(service.preference.user_id() == "u1");
    CHECK(service.preference.category() == "notifications");
    CHECK(service.preference.name() == "email_interval");
    CHECK(service.preference.value() == "0");
    auto const missing = client.update_preference(msteams::MmUserId("missing"), "c", "n", "v");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == msteams::ErrorCode::not_found);
}

TEST_CASE("rpc: the API client deactivates users, lists their teams and adds them to teams", "[rpc]") {
    SyncFakeApi service;
    ApiServer srv(service);
    msteams::rpc::ApiClient client(srv.socket, std::chrono::seconds(5));

    REQUIRE(client.update_user_active(msteams::MmUserId("u1"), false).has_value());
    CHECK(service.user_active.user_id() == "u1");
    CHECK_FALSE(service.user_active.active());
    REQUIRE(client.update_user_active(msteams::MmUserId("u1"), true).has_value());
    CHECK(service.user_active.active());
    auto const missing = client.update_user_active(msteams::MmUserId("missing"), true);
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == msteams::ErrorCode::not_found);

    auto const teams = client.get_team_ids_for_user(msteams::MmUserId("u1"));
    REQUIRE(teams.has_value());
    CHECK(*teams == std::vector<std::string>{"team-1", "team-2"});
    CHECK_FALSE(client.get_team_ids_for_user(msteams::MmUserId("missing")).has_value());
    auto const groups = client.get_group_names_for_user(msteams::MmUserId("u1"));
    REQUIRE(groups.has_value());
    CHECK(*groups == std::vector<std::string>{"developers"});
    CHECK_FALSE(client.get_group_names_for_user(msteams::MmUserId("missing")).has_value());

    auto const session = client.create_session(msteams::MmUserId("u1"), {{"platform", "Microsoft Teams"}});
    REQUIRE(session.has_value());
    CHECK(session->token == "session-token");
    CHECK(session->user_id.str() == "u1");
    CHECK(session->csrf == "csrf-token");
    CHECK(session->expires_at == 1'900'000'000'000);
    CHECK(session->cookie_path == "/");
    CHECK(service.session_props.at("platform") == "Microsoft Teams");
    auto const refused_session = client.create_session(msteams::MmUserId("gone"), {});
    REQUIRE_FALSE(refused_session.has_value());
    CHECK(refused_session.error().code == msteams::ErrorCode::permission_denied);

    msteams::mm::User u;
    u.id = msteams::MmUserId("u1");
    u.username = "promoted";
    u.notify_props = {{"email", "true"}};
    REQUIRE(client.update_user(u).has_value());
    CHECK(service.updated_user.user().notify_props().at("email") == "true");

    REQUIRE(client.add_team_member("team-1", msteams::MmUserId("u1")).has_value());
    CHECK(service.team_member.team_id() == "team-1");
    CHECK(service.team_member.user_id() == "u1");
    auto const refused = client.add_team_member("forbidden", msteams::MmUserId("u1"));
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == msteams::ErrorCode::invalid_argument);
    CHECK_THAT(refused.error().message, Catch::Contains("allowed domains"));
}

TEST_CASE("rpc: the API client gets group channels and channel members", "[rpc]") {
    SyncFakeApi service;
    ApiServer srv(service);
    msteams::rpc::ApiClient client(srv.socket, std::chrono::seconds(5));

    auto const gm =
        client.get_group_channel({msteams::MmUserId("u1"), msteams::MmUserId("u2"), msteams::MmUserId("u3")});
    REQUIRE(gm.has_value());
    CHECK(gm->id == "gm1");
    CHECK(gm->type == "G");
    CHECK(service.group.user_ids_size() == 3);
    CHECK(service.group.user_ids(2) == "u3");
    auto const small = client.get_group_channel({msteams::MmUserId("u1"), msteams::MmUserId("u2")});
    REQUIRE_FALSE(small.has_value());
    CHECK(small.error().http_status == 400);

    auto const ids = client.get_channel_member_ids(msteams::MmChannelId("c1"), 2, 50);
    REQUIRE(ids.has_value());
    CHECK(*ids == std::vector<msteams::MmUserId>{msteams::MmUserId("u1"), msteams::MmUserId("u2")});
    CHECK(service.members.page() == 2);
    CHECK(service.members.per_page() == 50);
    auto const forbidden = client.get_channel_member_ids(msteams::MmChannelId("forbidden"), 0, 50);
    REQUIRE_FALSE(forbidden.has_value());
    CHECK(forbidden.error().code == msteams::ErrorCode::permission_denied);

    auto const member = client.get_channel_member(msteams::MmChannelId("c1"), msteams::MmUserId("u1"));
    REQUIRE(member.has_value());
    CHECK(member->last_viewed_at == 4242);
    CHECK(member->notify_props.at("ignore_channel_mentions") == "on");
    auto const stranger = client.get_channel_member(msteams::MmChannelId("c1"), msteams::MmUserId("u9"));
    REQUIRE_FALSE(stranger.has_value());
    CHECK(stranger.error().code == msteams::ErrorCode::not_found);
    auto const status = client.get_user_status(msteams::MmUserId("u1"));
    REQUIRE(status.has_value());
    CHECK(status->status == "online");
    CHECK(status->last_activity_at == 77);
}

TEST_CASE("rpc: the API client gets, edits, deletes and lists posts", "[rpc]") {
    SyncFakeApi service;
    ApiServer srv(service);
    msteams::rpc::ApiClient client(srv.socket, std::chrono::seconds(5));

    auto post = client.get_post(msteams::MmPostId("p1"));
    REQUIRE(post.has_value());
    CHECK(post->id == "p1");
    CHECK(post->props_json == R"({"msteams_id":"m1"})");
    CHECK(post->file_ids == std::vector<std::string>{"f1"});
    CHECK(post->channel_id == "c1");
    CHECK(post->update_at == 5);
    auto const missing = client.get_post(msteams::MmPostId("missing"));
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().code == msteams::ErrorCode::not_found);

    post->message = "edited";
    post->file_ids.push_back("f2");
    auto const edited = client.update_post(*post);
    REQUIRE(edited.has_value());
    CHECK(edited->message == "edited");
    CHECK(edited->update_at == 3000);
    CHECK(service.updated_post.post().file_ids_size() == 2);
    CHECK(service.updated_post.post().props_json() == R"({"msteams_id":"m1"})");

    REQUIRE(client.delete_post(msteams::MmPostId("p1")).has_value());
    auto const not_deleted = client.delete_post(msteams::MmPostId("missing"));
    REQUIRE_FALSE(not_deleted.has_value());
    CHECK(not_deleted.error().http_status == 404);
    CHECK(not_deleted.error().code == msteams::ErrorCode::not_found);
    // Already deleted: Mattermost's 400 is "not found" to the core, so that deleting again is success.
    auto const already = client.delete_post(msteams::MmPostId("gone"));
    REQUIRE_FALSE(already.has_value());
    CHECK(already.error().code == msteams::ErrorCode::not_found);
    CHECK(service.deleted_posts == std::vector<std::string>{"p1", "missing", "gone"});

    auto const since = client.get_posts_since(msteams::MmChannelId("c1"), 1'700'000'000'000);
    REQUIRE(since.has_value());
    REQUIRE(since->size() == 3);
    CHECK((*since)[0].id == "p1");
    CHECK((*since)[1].delete_at == 1'700'000'000'010);
    CHECK((*since)[2].create_at == 1'700'000'000'003);
    CHECK(service.posts_since.channel_id() == "c1");
    CHECK(service.posts_since.since() == 1'700'000'000'000);

    auto const thread = client.get_post_thread(msteams::MmPostId("r1"));
    REQUIRE(thread.has_value());
    REQUIRE(thread->posts.size() == 2);
    CHECK(thread->posts[0].id == "root");
    CHECK(thread->posts[1].root_id == "root");
    CHECK(thread->posts[1].user_id == "author-of-r1");
    CHECK(thread->posts[1].message == "@bob in r1");
    CHECK(thread->truncated);
    auto const no_thread = client.get_post_thread(msteams::MmPostId("missing"));
    REQUIRE_FALSE(no_thread.has_value());
    CHECK(no_thread.error().code == msteams::ErrorCode::not_found);
}

TEST_CASE("rpc: the API client adds, removes and lists reactions", "[rpc]") {
    SyncFakeApi service;
    ApiServer srv(service);
    msteams::rpc::ApiClient client(srv.socket, std::chrono::seconds(5));

    msteams::mm::Reaction r;
    r.user_id = msteams::MmUserId("u1");
    r.post_id = msteams::MmPostId("p1");
    r.emoji_name = "+1";
    r.channel_id = msteams::MmChannelId("c1");
    auto const added = client.add_reaction(r);
    REQUIRE(added.has_value());
    CHECK(added->emoji_name == "+1");
    CHECK(added->create_at == 4000);
    CHECK(added->channel_id == "c1");
    CHECK(service.added_reaction.reaction().channel_id() == "c1");

    REQUIRE(client.remove_reaction(r).has_value());
    CHECK(service.removed_reaction.reaction().emoji_name() == "+1");
    r.post_id = msteams::MmPostId("missing");
    auto const gone = client.remove_reaction(r);
    REQUIRE_FALSE(gone.has_value());
    CHECK(gone.error().code == msteams::ErrorCode::not_found);

    auto const all = client.get_reactions(msteams::MmPostId("p1"));
    REQUIRE(all.has_value());
    REQUIRE(all->size() == 2);
    CHECK((*all)[1].emoji_name == "smile");
    CHECK((*all)[1].post_id == "p1");
}

TEST_CASE("rpc: files of several MB round-trip — data over the limit is refused before sending", "[rpc]") {
    SyncFakeApi service;
    ApiServer srv(service);
    msteams::rpc::ApiClient client(srv.socket, std::chrono::seconds(5));

    // Larger than gRPC's default limit of 4 MiB, in both directions.
    std::string data(6 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<char>((i * 131) % 251);
    }
    auto const info = client.upload_file(msteams::MmUserId("u1"), msteams::MmChannelId("c1"), "diagram.png", data);
    REQUIRE(info.has_value());
    CHECK(info->id == "file1");
    CHECK(info->size == static_cast<std::int64_t>(data.size()));
    CHECK(info->name == "diagram.png");
    CHECK(info->mime_type == "image/png");
    CHECK(info->user_id == "nouser");
    CHECK(service.upload.user_id() == "u1");
    CHECK(service.upload.data() == data);

    auto const back = client.get_file("file1");
    REQUIRE(back.has_value());
    CHECK(back->size() == data.size());
    CHECK(*back == data);

    auto const bad_channel =
        client.upload_file(msteams::MmUserId("u1"), msteams::MmChannelId("missing"), "x.png", "png");
    REQUIRE_FALSE(bad_channel.has_value());
    CHECK(bad_channel.error().code == msteams::ErrorCode::invalid_argument);

    auto const meta = client.get_file_info("file1");
    REQUIRE(meta.has_value());
    CHECK(meta->post_id == "p1");
    CHECK(meta->size == 5);
    auto const no_meta = client.get_file_info("missing");
    REQUIRE_FALSE(no_meta.has_value());
    CHECK(no_meta.error().code == msteams::ErrorCode::not_found);
    auto const no_file = client.get_file("missing");
    REQUIRE_FALSE(no_file.has_value());
    CHECK(no_file.error().code == msteams::ErrorCode::not_found);

    int const uploads = service.uploads;
    auto const huge = client.upload_file(msteams::MmUserId("u1"), msteams::MmChannelId("c1"), "huge.bin",
                                         std::string(msteams::rpc::kMaxFileBytes + 1, 'x'));
    REQUIRE_FALSE(huge.has_value());
    CHECK(huge.error().code == msteams::ErrorCode::too_large);
    CHECK(huge.error().http_status == 413);
    CHECK_THAT(huge.error().message, Catch::Contains("huge.bin") && Catch::Contains("limit"));
    CHECK(service.uploads == uploads);
}

TEST_CASE("rpc: the Hooks server accepts an event batch as large as the shim sends", "[rpc]") {
    Harness h;
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(static_cast<int>(msteams::rpc::kMaxHooksMessageBytes));
    auto stub =
        v1::Hooks::NewStub(grpc::CreateCustomChannel("unix:" + h.socket, grpc::InsecureChannelCredentials(), args));
    grpc::ClientContext ctx;
    v1::EventBatch batch;
    batch.set_shim_instance("test");
    auto* e = batch.add_events();
    e->set_seq(1);
    e->mutable_message_posted()->set_id("big");
    // Over the 8 MiB the core accepted before; the shim cuts batches at half its 16 MiB send limit.
    std::string const padding(msteams::rpc::kMaxHooksMessageBytes / 2, 'x');
    e->mutable_message_posted()->set_props_json(R"({"x":")" + padding + R"("})");
    v1::EventAck ack;
    REQUIRE(stub->DeliverEvents(&ctx, batch, &ack).ok());
    CHECK(ack.handled_through() == 1);
}
