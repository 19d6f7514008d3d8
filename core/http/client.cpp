// <utility> must precede the Asio headers: Boost 1.74 uses std::exchange without including it (C++23 mode).
#include <utility>

#include "http/client.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "common/version.hpp"
#include "http/detail/url.hpp"

namespace msteams::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using beast::error_code;

namespace {

using Strand = net::strand<net::io_context::executor_type>;
using Clock = std::chrono::steady_clock;
using Callback = std::function<void(Result<Response>)>;

// Idle keep-alive connections kept per scheme://host:port; a request beyond that opens a new one, and a returning
// connection beyond it closes the oldest idle one.
constexpr std::size_t k_max_idle_per_host = 8;
// Servers and load balancers drop idle connections after a minute or more; reusing one older than this is not
// worth the failed attempt.
constexpr auto k_max_idle_age = std::chrono::seconds(50);
// Response headers beyond this fail the request (Beast's default is 8 KiB; Graph's can be longer).
constexpr std::uint32_t k_header_limit = 64 * 1024;
constexpr std::size_t k_max_headers = 256;

std::string const k_user_agent = std::string("mattermost-msteams-bridge/") + k_version;

Error make_error(ErrorCode code, std::string message) { return Error{code, std::move(message), 0, {}}; }

Error shutdown_error() { return make_error(ErrorCode::unavailable, "http client is shutting down"); }

// --- TLS context ---------------------------------------------------------------------------------------------------

struct BioFree {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct X509Free {
    void operator()(X509* p) const noexcept { X509_free(p); }
};

std::size_t add_pem_certificates(SSL_CTX* ctx, std::string const& pem) {
    if (pem.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
        return 0;
    }
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) {
        throw std::bad_alloc();
    }
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    std::size_t count = 0;
    for (;;) {
        std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) {
            break;
        }
        if (X509_STORE_add_cert(store, cert.get()) != 1) {
            ERR_clear_error();
            throw std::invalid_argument("http: a certificate in extra_ca_pem cannot be added to the trust store");
        }
        ++count;
    }
    ERR_clear_error();  // the end of the PEM data leaves a "no start line" error
    return count;
}

void configure_tls(ssl::context& ctx, TlsOptions const& tls) {
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1) {
        ERR_clear_error();
        throw std::runtime_error("http: cannot require TLS 1.2 or later");
    }
    ctx.set_verify_mode(ssl::verify_peer);
    error_code ec;
    ctx.set_default_verify_paths(ec);
    if (ec) {
        log::warn("http: the system's trusted certificates could not be loaded", {{"error", ec.message()}});
    }
    if (!tls.extra_ca_pem.empty() && add_pem_certificates(ctx.native_handle(), tls.extra_ca_pem) == 0) {
        throw std::invalid_argument("http: extra_ca_pem contains no PEM certificate");
    }
}

// --- requests ------------------------------------------------------------------------------------------------------

bool is_token_char(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (!is_token_char(c)) {
            return false;
        }
    }
    return true;
}

bool is_field_value(std::string_view s) noexcept {
    for (unsigned char c : s) {
        if ((c < 0x20 && c != '\t') || c == 0x7F) {
            return false;
        }
    }
    return true;
}

bool is_idempotent(bhttp::verb v) noexcept {
    switch (v) {
        case bhttp::verb::get:
        case bhttp::verb::head:
        case bhttp::verb::options:
        case bhttp::verb::trace:
        case bhttp::verb::put:
        case bhttp::verb::delete_: return true;
        default: return false;
    }
}

struct Prepared {
    detail::Url url;
    bhttp::request<bhttp::string_body> message;
    Clock::duration timeout{};
    std::size_t max_body = 0;
    bool idempotent = false;
};

Result<Prepared> prepare(Request request, bool allow_plain_http) {
    Prepared p;
    MSTEAMS_TRY_ASSIGN(p.url, detail::parse_url(request.url));
    if (!p.url.tls && !allow_plain_http) {
        return fail(ErrorCode::invalid_argument, "bad URL: plain http:// is not allowed; use https://");
    }
    auto const verb = bhttp::string_to_verb(request.method);
    if (verb == bhttp::verb::unknown) {
        return fail(ErrorCode::invalid_argument, "unsupported HTTP method '" + request.method + "'");
    }
    if (request.timeout.count() <= 0) {
        return fail(ErrorCode::invalid_argument, "request timeout must be positive");
    }
    if (request.headers.size() > k_max_headers) {
        return fail(ErrorCode::invalid_argument, "too many request headers");
    }
    p.timeout = request.timeout;
    p.max_body = request.max_response_body;
    p.idempotent = is_idempotent(verb);

    auto& m = p.message;
    m.version(11);
    m.method(verb);
    m.target(p.url.target);
    m.set(bhttp::field::host, p.url.host_header());
    bool user_agent = false;
    for (auto const& [name, value] : request.headers) {
        // The header's name is safe to report; its value may be a secret (Authorization) and is never echoed.
        if (!is_token(name)) {
            return fail(ErrorCode::invalid_argument, "invalid request header name '" + name + "'");
        }
        if (!is_field_value(value)) {
            return fail(ErrorCode::invalid_argument, "request header " + name + " has control characters in its value");
        }
        if (strings::iequals(name, "host") || strings::iequals(name, "content-length") ||
            strings::iequals(name, "transfer-encoding")) {
            return fail(ErrorCode::invalid_argument, "request header " + name + " is set by the client itself");
        }
        user_agent = user_agent || strings::iequals(name, "user-agent");
        m.insert(name, value);
    }
    if (!user_agent) {
        m.set(bhttp::field::user_agent, k_user_agent);
    }
    m.body() = std::move(request.body);
    m.prepare_payload();  // Content-Length for any body (and 0 for an empty POST, PUT or PATCH)
    return p;
}

// A kept-alive connection that the server closed shows up as one of these when it is next used.
bool is_stale_connection_error(error_code const& ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::connection_aborted || ec == net::error::broken_pipe || ec == net::error::not_connected ||
        ec == ssl::error::stream_truncated) {
        return true;
    }
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    if (ec.category() == net::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return true;
    }
#endif
    return false;
}

// --- connections ---------------------------------------------------------------------------------------------------

// One TCP (and usually TLS) connection to one scheme://host:port, on its own strand. While a request uses it, only
// that request's handlers touch it; while it sits in the pool, nothing does.
class Connection {
public:
    Connection(Strand strand, ssl::context* tls, std::string key) : strand_(std::move(strand)), key_(std::move(key)) {
        if (tls != nullptr) {
            tls_.emplace(strand_, *tls);
        } else {
            plain_.emplace(strand_);
        }
    }

    Connection(Connection const&) = delete;
    Connection& operator=(Connection const&) = delete;

    beast::tcp_stream& tcp() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
    bool is_tls() const noexcept { return tls_.has_value(); }
    beast::ssl_stream<beast::tcp_stream>& tls() { return *tls_; }
    beast::flat_buffer& buffer() noexcept { return buffer_; }
    Strand const& strand() const noexcept { return strand_; }
    std::string const& key() const noexcept { return key_; }

    template <class F>
    void with_stream(F&& f) {
        if (tls_) {
            f(*tls_);
        } else {
            f(*plain_);
        }
    }

    void close() noexcept {
        error_code ec;
        tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
        tcp().close();
    }

    void mark_idle() noexcept { idle_since_ = Clock::now(); }

    // An idle HTTP/1.1 connection has nothing to read: readable means the server closed it (or broke protocol).
    // Called only while the connection sits unused in the pool.
    bool fit_for_reuse() {
        if (Clock::now() - idle_since_ > k_max_idle_age || !tcp().socket().is_open()) {
            return false;
        }
        pollfd p{};
        p.fd = tcp().socket().native_handle();
        p.events = POLLIN;
        int const n = ::poll(&p, 1, 0);
        return n == 0;
    }

private:
    Strand strand_;
    std::string key_;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
    std::optional<beast::tcp_stream> plain_;
    beast::flat_buffer buffer_;  // persists between the responses read on this connection
    Clock::time_point idle_since_ = Clock::now();
};

class Exchange;

}  // namespace

// --- the client ----------------------------------------------------------------------------------------------------

namespace {

// Everything a request needs from its client (Client::Impl is private to Client).
struct ClientState : std::enable_shared_from_this<ClientState> {
    explicit ClientState(TlsOptions const& tls)
        : allow_plain_http_(tls.allow_plain_http),
          tls_ctx_(ssl::context::tls_client),
          work_(net::make_work_guard(ioc_)) {
        configure_tls(tls_ctx_, tls);
    }

    void start_threads(std::size_t n) {
        auto self = shared_from_this();
        for (std::size_t i = 0; i < std::max<std::size_t>(n, 1); ++i) {
            // Each thread keeps the Impl alive, so a Client destroyed from one of its own callbacks stays safe.
            threads_.emplace_back([self] {
                for (;;) {
                    try {
                        self->ioc_.run();
                        return;
                    } catch (std::exception const& e) {
                        log::error("http: unexpected exception on an I/O thread", {{"error", e.what()}});
                    }
                }
            });
        }
    }

    void shutdown();
    std::shared_ptr<Connection> take_idle(std::string const& key);
    void put_idle(std::shared_ptr<Connection> conn);
    bool add_active(Exchange* e, std::weak_ptr<Exchange> w);
    void remove_active(Exchange* e);

    // Declared before the io_context, so they outlive the handlers it may destroy unrun.
    std::mutex mutex_;
    bool stopping_ = false;
    std::unordered_map<std::string, std::vector<std::shared_ptr<Connection>>> idle_;  // emptied by shutdown()
    std::unordered_map<Exchange*, std::weak_ptr<Exchange>> active_;
    std::atomic<std::size_t> opened_{0};
    std::atomic<std::size_t> reused_{0};
    bool const allow_plain_http_;
    ssl::context tls_ctx_;

    net::io_context ioc_;
    net::executor_work_guard<net::io_context::executor_type> work_;
    std::vector<std::thread> threads_;
};

// One request from start to callback. It runs on one strand: that of the connection it starts with; a retry's new
// connection takes over the same strand (the old connection is closed by then).
class Exchange : public std::enable_shared_from_this<Exchange> {
public:
    Exchange(ClientState& impl, Prepared prepared, Callback done)
        : impl_(impl),
          url_(std::move(prepared.url)),
          req_(std::move(prepared.message)),
          timeout_(prepared.timeout),
          max_body_(prepared.max_body),
          idempotent_(prepared.idempotent),
          done_(std::move(done)),
          what_(std::string(req_.method_string()) + " " + url_.authority()) {}

    Exchange(Exchange const&) = delete;
    Exchange& operator=(Exchange const&) = delete;

    ~Exchange() {
        // Only if the io_context dropped our handlers without running them: the callback still runs once.
        if (!finished_) {
            impl_.remove_active(this);
            deliver(std::unexpected(shutdown_error()));
        }
    }

    // On the caller's thread: pick a connection, then continue on its strand.
    void start() {
        deadline_ = Clock::now() + timeout_;
        key_ = std::string(url_.tls ? "https://" : "http://") + url_.authority();
        conn_ = impl_.take_idle(key_);
        reused_ = conn_ != nullptr;
        if (!conn_) {
            conn_ = new_connection(net::make_strand(impl_.ioc_));
        }
        strand_.emplace(conn_->strand());
        if (!impl_.add_active(this, weak_from_this())) {
            aborted_ = true;  // begin() reports it
        }
        net::post(*strand_, [self = shared_from_this()] { self->begin(); });
    }

    // Posted to the strand by Client::Impl::shutdown.
    void abort() {
        if (finished_) {
            return;
        }
        aborted_ = true;
        if (resolver_) {
            resolver_->cancel();
        }
        if (conn_) {
            conn_->tcp().cancel();
        }
    }

    Strand const& strand() const { return *strand_; }

private:
    enum class Step { resolve, connect, handshake, write, read };

    static char const* step_name(Step s) noexcept {
        switch (s) {
            case Step::resolve: return "resolve";
            case Step::connect: return "connect to";
            case Step::handshake: return "TLS handshake with";
            case Step::write: return "write request to";
            case Step::read: return "read response from";
        }
        return "exchange with";
    }

    std::shared_ptr<Connection> new_connection(Strand strand) {
        return std::make_shared<Connection>(std::move(strand), url_.tls ? &impl_.tls_ctx_ : nullptr, key_);
    }

    // Common checks at the top of every handler; false when the exchange is over.
    bool proceed() {
        if (finished_) {
            return false;
        }
        if (aborted_) {
            fail_with(shutdown_error());
            return false;
        }
        return true;
    }

    void begin() {
        if (!proceed()) {
            return;
        }
        if (reused_) {
            write();
        } else {
            resolve();
        }
    }

    void resolve() {
        step_ = Step::resolve;
        resolver_.emplace(*strand_);
        resolve_timer_.emplace(*strand_);
        // The resolver has no deadline of its own: a timer answers for it. getaddrinfo cannot be interrupted, so a
        // late result is ignored.
        resolve_timer_->expires_at(deadline_);
        resolve_timer_->async_wait([self = shared_from_this()](error_code ec) {
            if (!ec && !self->finished_ && self->step_ == Step::resolve) {
                self->resolver_->cancel();
                self->fail_with(self->timeout_error());
            }
        });
        resolver_->async_resolve(url_.host, std::to_string(url_.port),
                                 beast::bind_front_handler(&Exchange::on_resolve, shared_from_this()));
    }

    void on_resolve(error_code ec, tcp::resolver::results_type const& results) {
        if (resolve_timer_) {
            resolve_timer_->cancel();
        }
        if (!proceed()) {
            return;
        }
        if (ec) {
            return fail_step(ec);
        }
        step_ = Step::connect;
        conn_->tcp().expires_at(deadline_);
        conn_->tcp().async_connect(results, beast::bind_front_handler(&Exchange::on_connect, shared_from_this()));
    }

    void on_connect(error_code ec, tcp::endpoint const&) {
        if (!proceed()) {
            return;
        }
        if (ec) {
            return fail_step(ec);
        }
        impl_.opened_.fetch_add(1, std::memory_order_relaxed);
        if (!conn_->is_tls()) {
            return write();
        }
        step_ = Step::handshake;
        if (auto const error = prepare_verification()) {
            return fail_with(*error);
        }
        conn_->tcp().expires_at(deadline_);
        conn_->tls().async_handshake(ssl::stream_base::client,
                                     beast::bind_front_handler(&Exchange::on_handshake, shared_from_this()));
    }

    // SNI for names (not for IP literals, RFC 6066 §3), and verification of the chain and of the name or address.
    std::optional<Error> prepare_verification() {
        auto& stream = conn_->tls();
        SSL* ssl = stream.native_handle();
        // SSL_set_tlsext_host_name, without the macro's C-style cast.
        if (!url_.host_is_ip && SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                                         const_cast<char*>(url_.host.c_str())) != 1) {
            ERR_clear_error();
            return make_error(ErrorCode::internal, "TLS setup for " + url_.authority() + ": cannot set SNI");
        }
        // OpenSSL checks the name (DNS SANs, no partial wildcards) or the address (IP SANs) while it verifies the
        // chain, so a mismatch is reported with its own verify error; host_name_verification checks the same again
        // at depth 0 (it too compares IP literals against IP SANs).
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int const ok = url_.host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, url_.host.c_str())
                                       : X509_VERIFY_PARAM_set1_host(param, url_.host.c_str(), url_.host.size());
        if (ok != 1) {
            ERR_clear_error();
            return make_error(ErrorCode::internal,
                              "TLS setup for " + url_.authority() + ": cannot set the expected name");
        }
        error_code ec;
        stream.set_verify_mode(ssl::verify_peer, ec);
        if (!ec) {
            stream.set_verify_callback(ssl::host_name_verification(url_.host), ec);
        }
        if (ec) {
            return make_error(ErrorCode::internal, "TLS setup for " + url_.authority() + ": " + ec.message());
        }
        return std::nullopt;
    }

    void on_handshake(error_code ec) {
        if (!proceed()) {
            return;
        }
        if (ec) {
            long const verify = SSL_get_verify_result(conn_->tls().native_handle());
            bool const verify_failed = verify != X509_V_OK || (ec.category() == net::error::get_ssl_category() &&
                                                               ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
                                                                   SSL_R_CERTIFICATE_VERIFY_FAILED);
            if (verify_failed && ec != beast::error::timeout) {
                std::string reason = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : ec.message();
                return fail_with(make_error(ErrorCode::unavailable,
                                            "certificate verify failed for " + url_.authority() + ": " + reason));
            }
            return fail_step(ec);
        }
        write();
    }

    void write() {
        step_ = Step::write;
        bytes_written_ = 0;
        parser_.reset();
        conn_->tcp().expires_at(deadline_);
        conn_->with_stream([this](auto& stream) {
            bhttp::async_write(stream, req_, beast::bind_front_handler(&Exchange::on_write, shared_from_this()));
        });
    }

    void on_write(error_code ec, std::size_t bytes) {
        bytes_written_ = bytes;
        if (!proceed()) {
            return;
        }
        if (ec) {
            return retry_or_fail(ec);
        }
        step_ = Step::read;
        parser_.emplace();
        parser_->body_limit(max_body_);
        parser_->header_limit(k_header_limit);
        if (req_.method() == bhttp::verb::head) {
            parser_->skip(true);
        }
        conn_->tcp().expires_at(deadline_);
        conn_->with_stream([this](auto& stream) {
            bhttp::async_read_header(stream, conn_->buffer(), *parser_,
                                     beast::bind_front_handler(&Exchange::on_read_header, shared_from_this()));
        });
    }

    // The header first, then the body. Beast 1.74 loses the body_limit error for a Content-Length over the limit
    // when body bytes arrive in the same read as the header (basic_parser::put goes on parsing eagerly), so the
    // declared length is checked here; chunked and read-to-close bodies are limited by the parser itself.
    void on_read_header(error_code ec, std::size_t) {
        if (!proceed()) {
            return;
        }
        if (!ec) {
            auto const declared = parser_->content_length();
            if (declared && *declared > max_body_) {
                ec = bhttp::error::body_limit;
            }
        }
        if (ec || parser_->is_done()) {
            return on_read(ec, 0);
        }
        conn_->tcp().expires_at(deadline_);
        conn_->with_stream([this](auto& stream) {
            bhttp::async_read(stream, conn_->buffer(), *parser_,
                              beast::bind_front_handler(&Exchange::on_read, shared_from_this()));
        });
    }

    void on_read(error_code ec, std::size_t) {
        if (finished_) {
            return;
        }
        if (aborted_) {
            return fail_with(shutdown_error());
        }
        if (ec == bhttp::error::body_limit) {
            conn_->close();
            return fail_with(make_error(
                ErrorCode::too_large,
                "the response from " + url_.authority() + " is larger than " + std::to_string(max_body_) + " bytes"));
        }
        if (ec == bhttp::error::header_limit) {
            conn_->close();
            return fail_with(make_error(ErrorCode::too_large, "the response headers from " + url_.authority() +
                                                                  " are larger than " + std::to_string(k_header_limit) +
                                                                  " bytes"));
        }
        if (ec) {
            return retry_or_fail(ec);
        }

        auto& message = parser_->get();
        Response response;
        response.status = static_cast<int>(message.result_int());
        for (auto const& field : message) {
            response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        }
        response.body = std::move(message.body());
        // Keep the connection only if both sides want it and the server sent nothing beyond this response.
        bool const keep =
            message.keep_alive() && req_.keep_alive() && !parser_->need_eof() && conn_->buffer().size() == 0;
        parser_.reset();
        conn_->tcp().expires_never();
        if (keep) {
            conn_->mark_idle();
            impl_.put_idle(std::move(conn_));
        } else {
            conn_->close();
            conn_.reset();
        }
        finish(std::move(response));
    }

    // A reused connection that fails as a server-closed one would, before any byte of a response arrived, is retried
    // once on a new connection, provided repeating the request is harmless or it was never sent.
    void retry_or_fail(error_code ec) {
        bool const retry = reused_ && attempts_ == 0 && is_stale_connection_error(ec) &&
                           (idempotent_ || bytes_written_ == 0) && (!parser_ || !parser_->got_some()) &&
                           Clock::now() < deadline_;
        if (!retry) {
            return fail_step(ec);
        }
        log::debug("http: a kept-alive connection was closed by the server; retrying on a new one",
                   {{"request", what_}, {"error", ec.message()}});
        ++attempts_;
        conn_->close();
        conn_ = new_connection(*strand_);
        reused_ = false;
        parser_.reset();
        resolve();
    }

    Error timeout_error() const {
        return make_error(ErrorCode::unavailable, "timeout after " + std::to_string(timeout_ms()) +
                                                      " ms: " + step_name(step_) + " " + url_.authority());
    }

    long long timeout_ms() const {
        return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout_).count());
    }

    void fail_step(error_code ec) {
        if (ec == beast::error::timeout) {
            return fail_with(timeout_error());
        }
        fail_with(make_error(ErrorCode::unavailable,
                             std::string(step_name(step_)) + " " + url_.authority() + " failed: " + ec.message()));
    }

    void fail_with(Error error) {
        // Once writing began, the server may have the request (and act on it) whatever happens next.
        error.outcome_unknown = step_ == Step::write || step_ == Step::read;
        if (conn_) {
            conn_->close();
            conn_.reset();
        }
        finish(std::unexpected(std::move(error)));
    }

    void finish(Result<Response> result) {
        if (finished_) {
            return;
        }
        finished_ = true;
        if (resolve_timer_) {
            resolve_timer_->cancel();
        }
        impl_.remove_active(this);
        deliver(std::move(result));
    }

    void deliver(Result<Response> result) noexcept {
        auto done = std::move(done_);
        done_ = nullptr;
        if (!done) {
            return;
        }
        try {
            done(std::move(result));
        } catch (std::exception const& e) {
            log::error("http: a request callback threw", {{"request", what_}, {"error", e.what()}});
        } catch (...) {
            log::error("http: a request callback threw", {{"request", what_}});
        }
    }

    ClientState& impl_;
    detail::Url url_;
    bhttp::request<bhttp::string_body> req_;
    Clock::duration timeout_;
    std::size_t max_body_;
    bool idempotent_;
    Callback done_;
    std::string what_;  // "METHOD host:port" for logs; never the target, headers or body

    std::string key_;
    Clock::time_point deadline_{};
    std::optional<Strand> strand_;
    std::shared_ptr<Connection> conn_;
    bool reused_ = false;
    int attempts_ = 0;
    Step step_ = Step::resolve;
    std::size_t bytes_written_ = 0;
    bool finished_ = false;
    bool aborted_ = false;
    std::optional<tcp::resolver> resolver_;
    std::optional<net::steady_timer> resolve_timer_;
    std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
};

std::shared_ptr<Connection> ClientState::take_idle(std::string const& key) {
    std::vector<std::shared_ptr<Connection>> stale;  // closed outside the lock
    std::shared_ptr<Connection> found;
    {
        std::lock_guard lock(mutex_);
        auto it = idle_.find(key);
        if (it == idle_.end()) {
            return nullptr;
        }
        auto& list = it->second;
        while (!list.empty()) {
            auto conn = std::move(list.back());
            list.pop_back();
            if (conn->fit_for_reuse()) {
                found = std::move(conn);
                break;
            }
            stale.push_back(std::move(conn));
        }
        if (list.empty()) {
            idle_.erase(it);
        }
    }
    for (auto& c : stale) {
        c->close();
    }
    if (found) {
        reused_.fetch_add(1, std::memory_order_relaxed);
    }
    return found;
}

void ClientState::put_idle(std::shared_ptr<Connection> conn) {
    std::shared_ptr<Connection> evicted;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            evicted = std::move(conn);
        } else {
            auto& list = idle_[conn->key()];
            if (list.size() >= k_max_idle_per_host) {
                evicted = std::move(list.front());
                list.erase(list.begin());
            }
            list.push_back(std::move(conn));
        }
    }
    if (evicted) {
        evicted->close();
    }
}

bool ClientState::add_active(Exchange* e, std::weak_ptr<Exchange> w) {
    std::lock_guard lock(mutex_);
    if (stopping_) {
        return false;
    }
    active_.emplace(e, std::move(w));
    return true;
}

void ClientState::remove_active(Exchange* e) {
    std::lock_guard lock(mutex_);
    active_.erase(e);
}

void ClientState::shutdown() {
    decltype(idle_) idle;
    std::vector<std::shared_ptr<Exchange>> active;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        idle.swap(idle_);
        for (auto const& [ptr, weak] : active_) {
            if (auto e = weak.lock()) {
                active.push_back(std::move(e));
            }
        }
    }
    for (auto& [key, list] : idle) {
        for (auto& c : list) {
            c->close();
        }
    }
    idle.clear();
    for (auto& e : active) {
        net::post(e->strand(), [e] { e->abort(); });
    }
    active.clear();
    work_.reset();
    auto const me = std::this_thread::get_id();
    for (auto& t : threads_) {
        if (t.get_id() == me) {
            t.detach();  // destroyed from one of our own callbacks: this thread finishes the run loop and exits
        } else if (t.joinable()) {
            t.join();
        }
    }
}

}  // namespace

struct Client::Impl : ClientState {
    using ClientState::ClientState;
};

// --- public interface ----------------------------------------------------------------------------------------------

std::string Response::header(std::string_view name) const {
    for (auto const& [n, v] : headers) {
        if (strings::iequals(n, name)) {
            return v;
        }
    }
    return {};
}

Client::Client(TlsOptions const& tls, std::size_t threads) : impl_(std::make_shared<Impl>(tls)) {
    try {
        impl_->start_threads(threads);
    } catch (...) {
        impl_->shutdown();
        throw;
    }
}

Client::~Client() {
    try {
        impl_->shutdown();
    } catch (...) {
        std::fputs("msteams-core: the HTTP client did not stop cleanly\n", stderr);
    }
}

Result<Response> Client::send(Request request) {
    if (impl_->ioc_.get_executor().running_in_this_thread()) {
        return fail(ErrorCode::internal, "http: send() would block an I/O thread of its own client; use send_async()");
    }
    auto promise = std::make_shared<std::promise<Result<Response>>>();
    auto future = promise->get_future();
    send_async(std::move(request), [promise](Result<Response> r) { promise->set_value(std::move(r)); });
    return future.get();
}

void Client::send_async(Request request, std::function<void(Result<Response>)> done) {
    auto prepared = prepare(std::move(request), impl_->allow_plain_http_);
    if (!prepared) {
        // Still on an I/O thread, as documented.
        net::post(impl_->ioc_, [done = std::move(done), error = std::move(prepared.error())]() mutable {
            try {
                done(std::unexpected(std::move(error)));
            } catch (std::exception const& e) {
                log::error("http: a request callback threw", {{"error", e.what()}});
            }
        });
        return;
    }
    auto exchange = std::make_shared<Exchange>(*impl_, std::move(*prepared), std::move(done));
    exchange->start();
}

Stats Client::stats() const {
    return Stats{impl_->opened_.load(std::memory_order_relaxed), impl_->reused_.load(std::memory_order_relaxed)};
}

}  // namespace msteams::http
