// msteams-core: the bridge's engine. Started by the shim; see shim/README.md for the contract.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "app/core.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "rpc/api_client.hpp"
#include "rpc/server.hpp"

namespace {

constexpr char const* k_usage =
    "usage: msteams-core --version\n"
    "       msteams-core serve --hooks-socket PATH --api-socket PATH\n"
    "\n"
    "serve runs the bridge for the MS Teams Mattermost plugin. It is started by the plugin's shim, which passes a\n"
    "pipe as standard input: the core exits when that pipe closes, so it never outlives the plugin.\n";

struct ServeArgs {
    std::string hooks_socket;
    std::string api_socket;
};

bool parse_serve_args(int argc, char** argv, ServeArgs& out) {
    for (int i = 2; i < argc; ++i) {
        std::string_view const arg = argv[i];
        if (i + 1 >= argc) {
            return false;
        }
        if (arg == "--hooks-socket") {
            out.hooks_socket = argv[++i];
        } else if (arg == "--api-socket") {
            out.api_socket = argv[++i];
        } else {
            return false;
        }
    }
    return !out.hooks_socket.empty() && !out.api_socket.empty();
}

// Reads standard input until EOF, then asks the process to stop: the shim holds the other end of the pipe, so EOF
// means the shim is gone (or wants us gone).
void watch_stdin() {
    char buffer[256];
    while (true) {
        ssize_t const n = ::read(STDIN_FILENO, buffer, sizeof buffer);
        if (n == 0 || (n < 0 && errno != EINTR)) {
            break;
        }
    }
    ::kill(::getpid(), SIGTERM);
}

int serve(ServeArgs const& args) {
    using namespace msteams;
    // Signals are taken synchronously by the main thread; every thread started below inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    auto api = std::make_shared<rpc::ApiClient>(args.api_socket);
    log::set_sink(rpc::make_api_log_sink(api));
    app::Core core(api);

    std::unique_ptr<rpc::Server> server;
    try {
        server = rpc::Server::start(args.hooks_socket, core);
    } catch (std::exception const& e) {
        log::set_sink(nullptr);
        log::error("cannot start", {{"error", e.what()}});
        return 1;
    }
    std::thread(watch_stdin).detach();
    log::debug("msteams-core serving", {{"version", k_version}, {"pid", std::to_string(::getpid())}});

    int sig = 0;
    sigwait(&signals, &sig);
    log::set_sink(nullptr);  // the shim may already be gone
    log::debug("msteams-core stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    server->shutdown(std::chrono::seconds(2));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string_view const cmd = argc > 1 ? argv[1] : "";
    if (cmd == "--version" || cmd == "version") {
        std::printf("msteams-core %s\n", msteams::k_version);
        return 0;
    }
    if (cmd == "serve") {
        ServeArgs args;
        if (!parse_serve_args(argc, argv, args)) {
            std::fputs(k_usage, stderr);
            return 2;
        }
        return serve(args);
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::fputs(k_usage, stdout);
        return 0;
    }
    std::fputs(k_usage, stderr);
    return 2;
}
