#include "web/router.hpp"

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/strings.hpp"

namespace msteams::web {

namespace {

std::string find_header(std::vector<std::pair<std::string, std::string>> const& headers, std::string_view name) {
    for (auto const& [k, v] : headers) {
        if (strings::iequals(k, name)) {
            return v;
        }
    }
    return {};
}

}  // namespace

std::string Request::header(std::string_view name) const { return find_header(headers, name); }
std::string Response::header(std::string_view name) const { return find_header(headers, name); }

Response& Response::set(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
}

Response json_response(int status, std::string body) {
    Response r;
    r.status = status;
    r.set("Content-Type", "application/json");
    r.set("Cache-Control", "no-store");
    r.body = std::move(body);
    return r;
}

Response json_error(int status, std::string id, std::string message) {
    nlohmann::json const body{{"id", std::move(id)}, {"message", std::move(message)}, {"status_code", status}};
    return json_response(status, body.dump());
}

Response not_active_json(int retry_after_seconds) {
    return json_error(503, "not_active", "The plugin is not active.")
        .set("Retry-After", std::to_string(retry_after_seconds));
}

void Router::add(Route route) { routes_.push_back(std::move(route)); }

std::size_t Router::body_limit(std::string const& method, std::string const& path) const {
    for (auto const& r : routes_) {
        if (r.path == path && r.method == method) {
            return r.max_body;
        }
    }
    return 0;
}

Response Router::handle(Request const& request) const {
    Route const* match = nullptr;
    std::string allow;
    for (auto const& r : routes_) {
        if (r.path != request.path) {
            continue;
        }
        if (r.method == request.method) {
            match = &r;
            break;
        }
        allow += allow.empty() ? "" : ", ";
        allow += r.method;
    }
    if (match == nullptr) {
        if (!allow.empty()) {
            return json_error(405, "method_not_allowed", request.method + " is not allowed here.").set("Allow", allow);
        }
        return json_error(404, "not_found", "No such route.");
    }
    if (match->access == Access::user && request.user_id.empty()) {
        return json_error(401, "unauthenticated", "Log in to Mattermost first.");
    }
    if (request.body.size() > match->max_body) {
        return json_error(413, "too_large",
                          "The request body is larger than " + std::to_string(match->max_body) + " bytes.");
    }
    // A route without a body never reads one; any other must get the whole body it was announced.
    if (match->max_body > 0 && request.declared_length >= 0 &&
        static_cast<std::uint64_t>(request.declared_length) != request.body.size()) {
        return json_error(400, "incomplete_body",
                          "The request body has " + std::to_string(request.body.size()) + " bytes, not the " +
                              std::to_string(request.declared_length) + " its Content-Length declares.");
    }
    try {
        return match->handler(request);
    } catch (std::exception const& e) {
        log::error("HTTP handler failed", {{"path", request.path}, {"error", e.what()}});
        return json_error(500, "internal", "Something went wrong. The server log has the details.");
    }
}

}  // namespace msteams::web
