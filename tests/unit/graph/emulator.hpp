#pragma once

// Test-only: the Microsoft 365 emulator (tests/emulators/graph, built by CMake as m365-emulator) run as a child
// process with a temporary state directory, its env file read, and a small client for its control API built on the
// project's own http::Client (verified HTTPS with the emulator's CA).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/strings.hpp"
#include "crypto/crypto.hpp"
#include "graph/entra.hpp"
#include "http/client.hpp"

extern char** environ;

namespace msteams::test {

inline std::string read_file(std::filesystem::path const& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

struct EmulatorOptions {
    bool throttle = false;     // false: --no-throttle
    std::string trust_ca_pem;  // a CA for HTTPS notification endpoints (--trust-ca)
};

struct ControlAnswer {
    int status = 0;
    nlohmann::json body;  // null when the answer was empty or not JSON
};

class Emulator {
public:
    explicit Emulator(EmulatorOptions options = {}) {
        char const* from_env = std::getenv("M365_EMULATOR_BIN");
        std::string const binary = from_env != nullptr && *from_env != '\0' ? from_env : MSTEAMS_M365_EMULATOR;
        std::string templ = (std::filesystem::temp_directory_path() / "m365-test-XXXXXX").string();
        if (mkdtemp(templ.data()) == nullptr) {
            throw std::runtime_error("emulator: mkdtemp failed");
        }
        dir_ = templ;
        std::vector<std::string> args = {binary, "--listen", "127.0.0.1:0", "--state-dir", dir_.string()};
        if (!options.throttle) {
            args.emplace_back("--no-throttle");
        }
        if (!options.trust_ca_pem.empty()) {
            auto const ca = dir_ / "trusted-ca.pem";
            std::ofstream(ca) << options.trust_ca_pem;
            args.emplace_back("--trust-ca");
            args.push_back(ca.string());
        }
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        auto const out_path = (dir_ / "stdout.log").string();
        auto const err_path = (dir_ / "stderr.log").string();
        posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int const rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            std::filesystem::remove_all(dir_);
            throw std::runtime_error("emulator: cannot start " + binary);
        }
        try {
            wait_for_env();
        } catch (...) {
            stop();
            throw;
        }
        ca_pem = read_file(env.at("M365_CA_FILE"));
        http = std::make_shared<http::Client>(http::TlsOptions{ca_pem, false}, 2);
    }

    ~Emulator() { stop(); }
    Emulator(Emulator const&) = delete;
    Emulator& operator=(Emulator const&) = delete;

    [[nodiscard]] std::string login_url() const { return env.at("M365_LOGIN_URL"); }
    [[nodiscard]] std::string graph_url() const { return env.at("M365_GRAPH_URL"); }
    [[nodiscard]] std::string control_url() const { return env.at("M365_CONTROL_URL"); }
    [[nodiscard]] std::string tenant_id() const { return env.at("M365_TENANT_ID"); }

    [[nodiscard]] graph::App app() const {
        return graph::App{login_url(),
                          graph_url(),
                          "https://graph.microsoft.com",
                          tenant_id(),
                          env.at("M365_CLIENT_ID"),
                          env.at("M365_CLIENT_SECRET")};
    }

    // A control-API call; throws on transport failure (the emulator is part of the test, not the subject).
    ControlAnswer control(std::string const& method, std::string const& path,
                          nlohmann::json const& body = nullptr) const {
        http::Request req;
        req.method = method;
        req.url = control_url() + path;
        if (!body.is_null()) {
            req.body = body.dump();
            req.headers.emplace_back("Content-Type", "application/json");
        }
        req.timeout = std::chrono::seconds(20);
        auto r = http->send(std::move(req));
        if (!r) {
            throw std::runtime_error("emulator control " + method + " " + path + ": " + r.error().message);
        }
        ControlAnswer out;
        out.status = r->status;
        out.body = nlohmann::json::parse(r->body, nullptr, false);
        if (out.body.is_discarded()) {
            out.body = nullptr;
        }
        return out;
    }

    // The same, insisting on a 2xx answer.
    nlohmann::json control_ok(std::string const& method, std::string const& path,
                              nlohmann::json const& body = nullptr) const {
        auto a = control(method, path, body);
        if (a.status < 200 || a.status > 299) {
            throw std::runtime_error("emulator control " + method + " " + path + " answered " +
                                     std::to_string(a.status) + ": " + a.body.dump());
        }
        return a.body;
    }

    // How many Graph requests matched a route pattern (e.g. "GET /v1.0/chats/{chid}/messages/{mid}") and status.
    [[nodiscard]] std::int64_t count(std::string const& route, int status) const {
        auto const counters = control_ok("GET", "/counters");
        std::int64_t n = 0;
        for (auto const& row : counters.at("requests")) {
            if (row.value("host", "") == "graph" && row.value("route", "") == route &&
                row.value("status", 0) == status) {
                n += row.value("count", std::int64_t{0});
            }
        }
        return n;
    }

    // A delegated token for `login_hint` through the real flow: authorize (PKCE S256, sign-in by login_hint),
    // the redirect's code, then the token endpoint.
    [[nodiscard]] graph::Token user_token(std::string const& login_hint) const {
        graph::Entra entra(http, app());
        auto const pkce = crypto::make_pkce();
        std::string const redirect = "http://localhost:8065/plugins/com.mattermost.msteams/oauth-redirect";
        http::Request req;
        req.url = entra.authorize_url(redirect, "test-state", pkce.challenge) +
                  "&login_hint=" + strings::url_encode(login_hint);
        req.timeout = std::chrono::seconds(20);
        auto r = http->send(std::move(req));
        if (!r || r->status != 302) {
            throw std::runtime_error("emulator sign-in: no redirect back");
        }
        auto const location = r->header("Location");
        auto const q = location.find('?');
        auto const params = strings::parse_query(q == std::string::npos ? "" : location.substr(q + 1));
        std::string code;
        if (params) {
            for (auto const& [k, v] : *params) {
                if (k == "code") {
                    code = v;
                }
            }
        }
        if (code.empty()) {
            throw std::runtime_error("emulator sign-in: no code in the redirect");
        }
        auto token = entra.redeem_code(code, redirect, pkce.verifier);
        if (!token) {
            throw std::runtime_error("emulator sign-in: " + token.error().message);
        }
        return *token;
    }

    std::map<std::string, std::string> env;
    std::string ca_pem;
    std::shared_ptr<http::Client> http;

private:
    void wait_for_env() {
        auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("emulator exited early: " + read_file(dir_ / "stderr.log"));
            }
            auto const text = read_file(dir_ / "env");
            if (text.find("M365_CLIENT_SECRET=") != std::string::npos && !text.empty() && text.back() == '\n') {
                std::istringstream lines(text);
                for (std::string line; std::getline(lines, line);) {
                    auto const eq = line.find('=');
                    if (eq != std::string::npos) {
                        env[line.substr(0, eq)] = line.substr(eq + 1);
                    }
                }
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        throw std::runtime_error("emulator: no env file within 30 s");
    }

    void stop() noexcept {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            for (int i = 0; i < 250; ++i) {
                if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
                    pid_ = -1;
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            if (pid_ > 0) {
                kill(pid_, SIGKILL);
                waitpid(pid_, nullptr, 0);
                pid_ = -1;
            }
        }
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::filesystem::path dir_;
    pid_t pid_ = -1;
};

}  // namespace msteams::test
