#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/ids.hpp"

// HTTP routes below /plugins/com.mattermost.msteams. The rpc layer streams the request in, asks the router how
// much body the route accepts, and hands over a complete request.
namespace msteams::web {

struct Request {
    std::string method;
    std::string path;                                          // below the plugin's prefix, e.g. "/changes"
    std::string raw_query;                                     // still percent-encoded
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased; one pair per value
    MmUserId user_id;              // set by Mattermost only for a valid session; empty otherwise
    std::string source_plugin_id;  // inter-plugin requests
    std::string remote_addr;       // the client's address as the server saw it ("host:port")
    std::string body;
    // The Content-Length the client declared, -1 when it sent none. A body of another length is incomplete (the
    // client went away mid-body) and is refused, never handled as if it were whole.
    std::int64_t declared_length = -1;
    // Came through the server's metrics listener (the ServeMetrics hook), not the plugin's HTTP routes.
    bool metrics_listener = false;

    // The first value of a header (name in any case), or "".
    [[nodiscard]] std::string header(std::string_view name) const;
};

struct Response {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    Response& set(std::string name, std::string value);
    // The value of the first header of this name (case-insensitive), "" when none.
    [[nodiscard]] std::string header(std::string_view name) const;
};

enum class Access {
    anyone,  // e.g. Microsoft's notifications: authenticated by their own means
    user,    // a Mattermost session (Mattermost-User-Id set by the server)
};

using Handler = std::function<Response(Request const&)>;

struct Route {
    std::string method;
    std::string path;
    Access access = Access::user;
    std::size_t max_body = 0;
    Handler handler;
};

// The JSON error body every route uses: {"id": "...", "message": "...", "status_code": N}.
Response json_error(int status, std::string id, std::string message);
// 503 "not_active" while the plugin is not running, with when to ask again.
Response not_active_json(int retry_after_seconds = 5);
Response json_response(int status, std::string body);

class Router {
public:
    void add(Route route);

    // How many body bytes the route for this request accepts; 0 for an unknown route (its answer needs no body).
    [[nodiscard]] std::size_t body_limit(std::string const& method, std::string const& path) const;

    // 404 for an unknown path, 405 (with Allow) for a known path and another method, 401 for a user route without
    // a session, 413 if the body is over the limit, 400 if a route that takes a body did not get as many bytes as
    // declared, else the handler's answer. Handler exceptions become 500.
    [[nodiscard]] Response handle(Request const& request) const;

private:
    std::vector<Route> routes_;
};

}  // namespace msteams::web
