#pragma once

// Test-only: a throwaway PKI generated in memory and a loopback HTTPS server on Beast, for tests of the HTTP client
// and of anything built on it. Nothing touches the file system or the network beyond 127.0.0.1.

#include <utility>  // before Asio (Boost 1.74 under C++23)

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/strings.hpp"

namespace msteams::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

// --- PKI -------------------------------------------------------------------------------------------------------------

struct PkeyFree {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct CertFree {
    void operator()(X509* p) const noexcept { X509_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

struct Identity {
    Key key;
    Cert cert;
};

inline void check(bool ok, char const* what) {
    if (!ok) {
        throw std::runtime_error(std::string("test PKI: ") + what);
    }
}

inline Key make_p256_key() {
    Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    check(key != nullptr, "EVP_PKEY_Q_keygen");
    return key;
}

inline void add_extension(X509* cert, X509* issuer, int nid, std::string const& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    check(ext != nullptr, "X509V3_EXT_conf_nid");
    int const ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    check(ok == 1, "X509_add_ext");
}

// A certificate for `subject_key`; signed by `issuer` (nullptr: self-signed with subject_key).
inline Cert make_certificate(EVP_PKEY* subject_key, std::string const& common_name, Identity const* issuer, bool ca,
                             std::string const& subject_alt_names, long serial) {
    Cert cert(X509_new());
    check(cert != nullptr, "X509_new");
    X509* c = cert.get();
    check(X509_set_version(c, 2) == 1, "X509_set_version");
    check(ASN1_INTEGER_set(X509_get_serialNumber(c), serial) == 1, "serial");
    check(X509_gmtime_adj(X509_getm_notBefore(c), -3600) != nullptr, "notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(c), 86400) != nullptr, "notAfter");
    check(X509_set_pubkey(c, subject_key) == 1, "X509_set_pubkey");
    X509_NAME* name = X509_get_subject_name(c);
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<unsigned char const*>(common_name.c_str()), -1, -1, 0) == 1,
          "CN");
    X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : c;
    check(X509_set_issuer_name(c, X509_get_subject_name(issuer_cert)) == 1, "issuer");
    add_extension(c, issuer_cert, NID_subject_key_identifier, "hash");
    if (ca) {
        add_extension(c, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
        add_extension(c, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_extension(c, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
        add_extension(c, issuer_cert, NID_key_usage, "critical,digitalSignature");
        add_extension(c, issuer_cert, NID_ext_key_usage, "serverAuth");
        add_extension(c, issuer_cert, NID_subject_alt_name, subject_alt_names);
    }
    EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : subject_key;
    check(X509_sign(c, signer, EVP_sha256()) > 0, "X509_sign");
    return cert;
}

inline std::string to_pem(X509* cert) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    check(bio != nullptr && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
    char* data = nullptr;
    long const n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// A test CA that issues server certificates.
class TestPki {
public:
    TestPki() {
        ca_.key = make_p256_key();
        ca_.cert = make_certificate(ca_.key.get(), "msteams test CA", nullptr, true, "", 1);
    }

    [[nodiscard]] std::string ca_pem() const { return to_pem(ca_.cert.get()); }

    // subject_alt_names in OpenSSL's config syntax, e.g. "DNS:localhost,IP:127.0.0.1".
    [[nodiscard]] Identity issue(std::string const& common_name, std::string const& subject_alt_names) {
        Identity leaf;
        leaf.key = make_p256_key();
        leaf.cert = make_certificate(leaf.key.get(), common_name, &ca_, false, subject_alt_names, ++serial_);
        return leaf;
    }

private:
    Identity ca_;
    long serial_ = 1;
};

// --- server ----------------------------------------------------------------------------------------------------------

// What the server saw.
struct Seen {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::size_t connection = 0;  // 0, 1, ... in accept order
    std::size_t index = 0;       // the request's position on its connection

    [[nodiscard]] std::string header(std::string_view name) const {
        for (auto const& [n, v] : headers) {
            if (strings::iequals(n, name)) {
                return v;
            }
        }
        return {};
    }
    [[nodiscard]] bool has_header(std::string_view name) const {
        for (auto const& [n, v] : headers) {
            if (strings::iequals(n, name)) {
                return true;
            }
        }
        return false;
    }
};

enum class Action {
    respond,      // answer, keep the connection if the request allows it
    close_after,  // answer, then close the connection without saying so
    drop,         // close the connection without answering
    hang,         // never answer; wait until the client goes away
};

struct Reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool chunked = false;
    std::string raw;  // when set, written as is instead of the fields above
    Action action = Action::respond;
};

class TlsServer {
public:
    using Handler = std::function<Reply(Seen const&)>;

    // `tls_handshake = false` accepts connections and then never speaks (a server stuck before TLS).
    TlsServer(Identity const& identity, Handler handler, bool tls_handshake = true)
        : handler_(std::move(handler)),
          tls_handshake_(tls_handshake) {
        check(SSL_CTX_use_certificate(ctx_.native_handle(), identity.cert.get()) == 1, "server certificate");
        check(SSL_CTX_use_PrivateKey(ctx_.native_handle(), identity.key.get()) == 1, "server key");
        tcp::endpoint const endpoint(boost::asio::ip::make_address("127.0.0.1"), 0);
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        net::co_spawn(ioc_, accept_loop(), net::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }

    ~TlsServer() {
        net::post(ioc_, [this] {
            boost::system::error_code ec;
            acceptor_.close(ec);
            for (auto* stream : live_) {
                stream->close();
            }
        });
        thread_.join();
    }

    TlsServer(TlsServer const&) = delete;
    TlsServer& operator=(TlsServer const&) = delete;

    [[nodiscard]] unsigned short port() const noexcept { return port_; }
    [[nodiscard]] std::string url(std::string const& path, std::string const& host = "localhost") const {
        return "https://" + host + ":" + std::to_string(port_) + path;
    }
    [[nodiscard]] std::size_t connections() const noexcept { return connections_.load(); }
    // Connections the server closed after answering.
    [[nodiscard]] std::size_t closed() const noexcept { return closed_.load(); }
    [[nodiscard]] std::vector<Seen> requests() const {
        std::lock_guard lock(mutex_);
        return seen_;
    }

private:
    net::awaitable<void> accept_loop() {
        for (std::size_t id = 0;; ++id) {
            boost::system::error_code ec;
            tcp::socket socket = co_await acceptor_.async_accept(net::redirect_error(net::use_awaitable, ec));
            if (ec) {
                co_return;
            }
            ++connections_;
            net::co_spawn(ioc_, session(std::move(socket), id), net::detached);
        }
    }

    net::awaitable<void> session(tcp::socket socket, std::size_t id) {
        beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), ctx_);
        auto& lowest = beast::get_lowest_layer(stream);
        live_.insert(&lowest);
        struct Unregister {
            std::set<beast::tcp_stream*>& live;
            beast::tcp_stream* self;
            ~Unregister() { live.erase(self); }
        } const unregister{live_, &lowest};

        boost::system::error_code ec;
        auto token = net::redirect_error(net::use_awaitable, ec);
        char byte = 0;
        if (!tls_handshake_) {
            while (!ec) {  // swallow whatever arrives until the client goes away
                co_await lowest.async_read_some(net::buffer(&byte, 1), token);
            }
            co_return;
        }
        co_await stream.async_handshake(ssl::stream_base::server, token);
        if (ec) {
            co_return;
        }
        beast::flat_buffer buffer;
        for (std::size_t index = 0;; ++index) {
            bhttp::request<bhttp::string_body> req;
            co_await bhttp::async_read(stream, buffer, req, token);
            if (ec) {
                co_return;
            }
            Seen seen;
            seen.method = std::string(req.method_string());
            seen.target = std::string(req.target());
            for (auto const& field : req) {
                seen.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
            }
            seen.body = req.body();
            seen.connection = id;
            seen.index = index;
            {
                std::lock_guard lock(mutex_);
                seen_.push_back(seen);
            }
            Reply reply = handler_(seen);
            if (reply.action == Action::drop) {
                lowest.close();
                co_return;
            }
            if (reply.action == Action::hang) {
                while (!ec) {
                    co_await stream.async_read_some(net::buffer(&byte, 1), token);
                }
                co_return;
            }
            if (!reply.raw.empty()) {
                co_await net::async_write(stream, net::buffer(reply.raw), token);
            } else {
                bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(reply.status), 11};
                for (auto const& [name, value] : reply.headers) {
                    res.insert(name, value);
                }
                res.body() = std::move(reply.body);
                res.keep_alive(req.keep_alive());
                if (reply.chunked) {
                    res.chunked(true);
                } else {
                    res.prepare_payload();
                }
                co_await bhttp::async_write(stream, res, token);
            }
            if (ec) {
                co_return;
            }
            if (reply.action == Action::close_after || !req.keep_alive()) {
                lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
                lowest.close();
                ++closed_;
                co_return;
            }
        }
    }

    Handler handler_;
    bool tls_handshake_;
    net::io_context ioc_;
    ssl::context ctx_{ssl::context::tls_server};
    tcp::acceptor acceptor_{ioc_};
    unsigned short port_ = 0;
    std::set<beast::tcp_stream*> live_;  // only on the server's thread
    std::atomic<std::size_t> connections_{0};
    std::atomic<std::size_t> closed_{0};
    mutable std::mutex mutex_;
    std::vector<Seen> seen_;
    std::thread thread_;
};

}  // namespace msteams::test
