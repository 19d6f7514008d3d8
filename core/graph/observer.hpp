#pragma once

#include <chrono>
#include <string_view>

namespace msteams::graph {

// What the Graph client and Entra report of their requests, for metrics; the app wires one that counts. Called on
// the requesting thread, so it must be quick and must not call back into Graph. The default does nothing.
class Observer {
public:
    virtual ~Observer() = default;
    // One exchange with Graph: its endpoint class ("message_post", ...), the HTTP status (0: no answer) and how long
    // it took. Retries are exchanges of their own.
    virtual void graph_request(std::string_view /*endpoint*/, int /*status*/, std::chrono::nanoseconds /*took*/) {}
    // A request is sent again (after a 429, a 5xx or a lost connection).
    virtual void graph_retry() {}
    // A request waited this long for its turn under the rate budgets.
    virtual void graph_waited(std::chrono::milliseconds /*waited*/) {}
    // One token request to Entra: its grant ("client_credentials", "authorization_code", "refresh_token"), the HTTP
    // status (0: no answer) and how long it took.
    virtual void entra_request(std::string_view /*grant*/, int /*status*/, std::chrono::nanoseconds /*took*/) {}
};

}  // namespace msteams::graph
