#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

// An HTTPS client for Entra ID and Microsoft Graph: keep-alive connections pooled per host, TLS with certificate and
// host-name verification always on, deadlines, response size limits. Beast and OpenSSL stay behind this header.
namespace msteams::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
    std::string method = "GET";
    std::string url;  // https://host[:port]/path?query (http:// only when TlsOptions::allow_plain_http)
    Headers headers;
    std::string body;
    // The whole exchange: connect, TLS, write, read. Expiry fails the request with ErrorCode::unavailable.
    std::chrono::milliseconds timeout{30'000};
    // A larger response body fails the request with ErrorCode::too_large.
    std::size_t max_response_body = 16u << 20;
};

struct Response {
    int status = 0;
    Headers headers;  // names as received
    std::string body;

    // The first value of a header, case-insensitively; "" when absent.
    [[nodiscard]] std::string header(std::string_view name) const;
};

struct TlsOptions {
    // PEM certificates trusted in addition to the system's roots (the extraCaPem setting, a test CA).
    std::string extra_ca_pem;
    // Only for tests against plain-HTTP fakes; never set from configuration.
    bool allow_plain_http = false;
};

struct Stats {
    std::size_t connections_opened = 0;
    std::size_t connections_reused = 0;
};

class Client {
public:
    // `threads` run the I/O. Throws std::invalid_argument if extra_ca_pem holds no certificate.
    explicit Client(TlsOptions const& tls, std::size_t threads = 2);
    ~Client();
    Client(Client const&) = delete;
    Client& operator=(Client const&) = delete;

    // Any HTTP status is a successful Result; errors are transport failures: ErrorCode::invalid_argument (bad
    // URL), unavailable (DNS, connect, TLS verification, timeout, connection reset; the message says which and
    // names the host), too_large (response body over the limit). A failure after the request began to be written
    // has Error::outcome_unknown set: the server may have acted on it. Thread-safe; blocks the caller only.
    [[nodiscard]] Result<Response> send(Request request);

    // The same without blocking: `done` runs on an I/O thread exactly once.
    void send_async(Request request, std::function<void(Result<Response>)> done);

    [[nodiscard]] Stats stats() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace msteams::http
