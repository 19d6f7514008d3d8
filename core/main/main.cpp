// msteams-core: the bridge's engine. Started by the shim; see shim/README.md for the contract.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "app/core.hpp"
#include "common/json_depth.hpp"
#include "common/log.hpp"
#include "common/version.hpp"
#include "convert/convert.hpp"
#include "rpc/api_client.hpp"
#include "rpc/server.hpp"

namespace {

constexpr char const* k_usage =
    "usage: msteams-core --version\n"
    "       msteams-core serve --hooks-socket PATH --api-socket PATH\n"
    "       msteams-core convert --from teams-html --to markdown [--message-json]\n"
    "       msteams-core convert --from markdown --to teams-html\n"
    "\n"
    "serve runs the bridge for the MS Teams Mattermost plugin. It is started by the plugin's shim, which passes a\n"
    "pipe as standard input: the core exits when that pipe closes, so it never outlives the plugin.\n"
    "\n"
    "convert converts one message from standard input to standard output, as the bridge does. With --message-json\n"
    "the input is a whole Graph chatMessage (its body and mentions are used; mentions print as @DisplayName, with\n"
    "characters a username cannot have replaced by '.'). Exit status: 0 converted, 1 conversion error, 2 usage.\n";

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
    // Asynchronous: a log line is a gRPC round trip to the shim, which no worker should wait for.
    auto sink = std::make_shared<log::AsyncSink>(rpc::make_api_log_sink(api));
    log::set_sink(sink);
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
    sink->stop(std::chrono::milliseconds(500));
    log::debug("msteams-core stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    server->shutdown(std::chrono::seconds(2));
    return 0;
}

struct ConvertArgs {
    std::string from;
    std::string to;
    bool message_json = false;
};

bool parse_convert_args(int argc, char** argv, ConvertArgs& out) {
    for (int i = 2; i < argc; ++i) {
        std::string_view const arg = argv[i];
        if (arg == "--message-json") {
            out.message_json = true;
        } else if ((arg == "--from" || arg == "--to") && i + 1 < argc) {
            (arg == "--from" ? out.from : out.to) = argv[++i];
        } else {
            return false;
        }
    }
    bool const to_markdown = out.from == "teams-html" && out.to == "markdown";
    bool const to_teams = out.from == "markdown" && out.to == "teams-html";
    return to_markdown || (to_teams && !out.message_json);
}

// Standard input, up to `limit` bytes; nullopt (and a message) when there is more.
std::optional<std::string> read_stdin(std::size_t limit) {
    std::string data;
    char buffer[16384];
    while (true) {
        std::size_t const n = std::fread(buffer, 1, sizeof buffer, stdin);
        data.append(buffer, n);
        if (data.size() > limit) {
            std::fprintf(stderr, "msteams-core convert: input is over the limit of %zu bytes\n", limit);
            return std::nullopt;
        }
        if (n < sizeof buffer) {
            if (std::ferror(stdin) != 0) {
                std::fputs("msteams-core convert: cannot read standard input\n", stderr);
                return std::nullopt;
            }
            return data;
        }
    }
}

// A display name as a username-shaped token: "Jane Smith" → "Jane.Smith".
std::string username_from_display_name(std::string_view name) {
    std::string out;
    for (char c : name) {
        bool const ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (ok) {
            out += c;
        } else if (!out.empty() && out.back() != '.') {
            out += '.';
        }
    }
    while (!out.empty() && out.back() == '.') {
        out.pop_back();
    }
    return out;
}

int convert_message(ConvertArgs const& args) {
    namespace convert = msteams::convert;
    convert::Limits const limits;
    auto const input = read_stdin(args.message_json ? 4 * limits.max_input_bytes : limits.max_input_bytes);
    if (!input) {
        return 1;
    }
    if (args.from == "markdown") {
        auto const out = convert::markdown_to_teams(*input, {}, limits);
        if (!out) {
            std::fprintf(stderr, "msteams-core convert: %s\n", out.error().message.c_str());
            return 1;
        }
        std::fwrite(out->html.data(), 1, out->html.size(), stdout);
        std::fputc('\n', stdout);
        return 0;
    }
    std::string body = *input;
    std::string content_type = "html";
    std::vector<convert::TeamsMention> mentions;
    std::map<std::string, std::string> names;  // Teams user id → display name
    if (args.message_json) {
        if (!msteams::json_limits::nesting_within(*input, msteams::json_limits::k_max_json_depth)) {
            std::fputs("msteams-core convert: the input JSON nests too deeply\n", stderr);
            return 1;
        }
        auto const message = nlohmann::json::parse(*input, nullptr, false);
        auto const* content =
            message.is_object() && message.contains("body") && message["body"].is_object() ? &message["body"] : nullptr;
        if (content == nullptr || !content->contains("content") || !(*content)["content"].is_string()) {
            std::fputs("msteams-core convert: the input is not a chatMessage with a body.content string\n", stderr);
            return 1;
        }
        body = (*content)["content"].get<std::string>();
        content_type = content->value("contentType", "html");
        for (auto const& m : message.value("mentions", nlohmann::json::array())) {
            if (!m.is_object() || !m.contains("id") || !m["id"].is_number_integer()) {
                continue;
            }
            convert::TeamsMention mention;
            mention.id = m["id"].get<int>();
            mention.text = m.value("mentionText", "");
            auto const user = m.contains("mentioned") && m["mentioned"].is_object()
                                  ? m["mentioned"].value("user", nlohmann::json())
                                  : nlohmann::json();
            if (user.is_object() && user.contains("id") && user["id"].is_string()) {
                mention.teams_user_id = user["id"].get<std::string>();
                names[mention.teams_user_id] = user.value("displayName", mention.text);
            }
            mentions.push_back(std::move(mention));
        }
    }
    auto const username_for = [&names](std::string const& id) -> std::optional<std::string> {
        auto const it = names.find(id);
        if (it == names.end()) {
            return std::nullopt;
        }
        auto name = username_from_display_name(it->second);
        return name.empty() ? std::nullopt : std::optional<std::string>(std::move(name));
    };
    auto const out = convert::teams_to_markdown(body, content_type, mentions, username_for, limits);
    if (!out) {
        std::fprintf(stderr, "msteams-core convert: %s\n", out.error().message.c_str());
        return 1;
    }
    std::fwrite(out->markdown.data(), 1, out->markdown.size(), stdout);
    std::fputc('\n', stdout);
    for (auto const& id : out->hosted_content_ids) {
        std::fprintf(stderr, "msteams-core convert: left out hosted content (image) %s\n", id.c_str());
    }
    for (auto const& id : out->attachment_ids) {
        std::fprintf(stderr, "msteams-core convert: left out attachment %s\n", id.c_str());
    }
    return 0;
}

}  // namespace

static int run(int argc, char** argv) {
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
    if (cmd == "convert") {
        ConvertArgs args;
        if (!parse_convert_args(argc, argv, args)) {
            std::fputs(k_usage, stderr);
            return 2;
        }
        return convert_message(args);
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::fputs(k_usage, stdout);
        return 0;
    }
    std::fputs(k_usage, stderr);
    return 2;
}

// What escapes `run` is a bug: say so and exit non-zero rather than abort (the shim restarts the core either way).
int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (std::exception const& e) {
        std::fprintf(stderr, "msteams-core: stopped by an unexpected error: %s\n", e.what());
    } catch (...) {
        std::fprintf(stderr, "msteams-core: stopped by an unexpected error\n");
    }
    return 70;
}
