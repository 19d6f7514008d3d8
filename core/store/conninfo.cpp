// Mattermost's SqlSettings.DataSource → a libpq connection string.
//
// Mattermost connects with Go's lib/pq, whose DataSource is usually a URL:
//   postgres://user:password@host:port/dbname?sslmode=disable&connect_timeout=10&binary_parameters=yes
// libpq reads URLs too, but refuses query parameters it does not know (lib/pq's binary_parameters, for one), and the
// two differ in details. So the URL is taken apart here and rebuilt as keyword/value pairs, keeping only what libpq
// understands. A DataSource already in libpq's keyword/value form is passed through as it is.
#include <algorithm>
#include <array>
#include <cctype>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/strings.hpp"
#include "store/database.hpp"

namespace msteams::store {
namespace {

// libpq 15's connection keywords, less `replication` (never wanted here).
constexpr std::array<std::string_view, 36> k_libpq_keywords{
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "requiressl",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "service",
    "target_session_attrs",
};

bool is_libpq_keyword(std::string_view key) {
    return std::find(k_libpq_keywords.begin(), k_libpq_keywords.end(), key) != k_libpq_keywords.end();
}

// Percent-decoding ('+' is a space only in the query). NUL bytes are refused: libpq strings cannot hold them.
std::optional<std::string> decode(std::string_view s, bool plus_is_space) {
    auto out = strings::url_decode(s, plus_is_space);
    if (out && out->find('\0') != std::string::npos) {
        return std::nullopt;
    }
    return out;
}

// A value as libpq's keyword/value syntax wants it: bare when it can be, otherwise single-quoted with \ and '
// escaped.
std::string quote(std::string_view value) {
    bool const bare = !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
        return c == '\'' || c == '\\' || std::isspace(static_cast<unsigned char>(c)) != 0;
    });
    if (bare) {
        return std::string(value);
    }
    std::string out = "'";
    for (char c : value) {
        if (c == '\'' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    out.push_back('\'');
    return out;
}

// For `options`: a backslash escapes spaces and backslashes inside one -c value.
std::string escape_option(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == ' ' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    return out;
}

class Params {
public:
    void set(std::string key, std::string value) {
        for (auto& [k, v] : pairs_) {
            if (k == key) {
                v = std::move(value);
                return;
            }
        }
        pairs_.emplace_back(std::move(key), std::move(value));
    }
    [[nodiscard]] std::optional<std::string> get(std::string_view key) const {
        for (auto const& [k, v] : pairs_) {
            if (k == key) {
                return v;
            }
        }
        return std::nullopt;
    }
    [[nodiscard]] std::string render() const {
        std::string out;
        for (auto const& [k, v] : pairs_) {
            if (!out.empty()) {
                out.push_back(' ');
            }
            out += k + "=" + quote(v);
        }
        return out;
    }

private:
    std::vector<std::pair<std::string, std::string>> pairs_;
};

// libpq's keyword/value form starts with a keyword and '=' (or is empty: all defaults).
bool looks_like_keyword_value(std::string_view s) {
    s = strings::trim(s);
    if (s.empty()) {
        return true;
    }
    std::size_t i = 0;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) != 0 || s[i] == '_')) {
        ++i;
    }
    if (i == 0) {
        return false;
    }
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])) != 0) {
        ++i;
    }
    return i < s.size() && s[i] == '=';
}

std::unexpected<Error> malformed(std::string_view what) {
    return fail(ErrorCode::invalid_argument, "the database data source is malformed: " + std::string(what));
}

struct HostPort {
    std::string host;
    std::string port;
};

Result<HostPort> parse_host_port(std::string_view item) {
    std::string_view host = item;
    std::string_view port;
    if (item.starts_with('[')) {
        auto const close = item.find(']');
        if (close == std::string_view::npos) {
            return malformed("unclosed '[' in the host");
        }
        host = item.substr(1, close - 1);
        auto const rest = item.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return malformed("unexpected text after the IPv6 address");
            }
            port = rest.substr(1);
        }
    } else if (auto const colon = item.rfind(':'); colon != std::string_view::npos) {
        host = item.substr(0, colon);
        port = item.substr(colon + 1);
    }
    if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return malformed("the port is not a number");
    }
    auto decoded = decode(host, false);
    if (!decoded) {
        return malformed("bad percent-encoding in the host");
    }
    return HostPort{std::move(*decoded), std::string(port)};
}

}  // namespace

// Long (over 80 lines) on purpose: a single-pass parser of the URL and key=value forms, whose state (the parameters
// seen so far) would only be passed around if it were split.
// NOLINTNEXTLINE(readability-function-size)
Result<std::string> to_libpq_conninfo(std::string_view data_source, std::chrono::seconds connect_timeout) {
    // libpq reads the result as a C string: a NUL typed in the data source would silently cut the parameters
    // after it, sslmode included (percent-encoded ones are refused by decode()).
    if (data_source.find('\0') != std::string_view::npos) {
        return fail(ErrorCode::invalid_argument, "the database data source contains a NUL character");
    }
    auto const source = strings::trim(data_source);
    auto const scheme_end = source.find("://");
    if (scheme_end == std::string_view::npos) {
        if (looks_like_keyword_value(source)) {
            return std::string(data_source);
        }
        return fail(ErrorCode::invalid_argument,
                    "the database data source is neither a postgres:// URL nor a libpq connection string; "
                    "the plugin supports PostgreSQL only (MySQL is not supported)");
    }
    auto const scheme = strings::to_lower(source.substr(0, scheme_end));
    if (scheme != "postgres" && scheme != "postgresql") {
        bool const printable = scheme.size() <= 16 && std::all_of(scheme.begin(), scheme.end(), [](char c) {
                                   return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+';
                               });
        return fail(ErrorCode::invalid_argument, "the database data source " +
                                                     (printable ? "scheme \"" + scheme + "\" " : std::string()) +
                                                     "is not supported: the plugin needs PostgreSQL (postgres://)");
    }

    std::string_view rest = source.substr(scheme_end + 3);
    if (auto const hash = rest.find('#'); hash != std::string_view::npos) {
        rest = rest.substr(0, hash);
    }
    std::string_view query;
    if (auto const q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    std::string_view authority = rest;
    std::string_view path;
    if (auto const slash = rest.find('/'); slash != std::string_view::npos) {
        authority = rest.substr(0, slash);
        path = rest.substr(slash + 1);
    }

    Params params;
    std::string_view userinfo;
    std::string_view hostlist = authority;
    if (auto const at = authority.rfind('@'); at != std::string_view::npos) {
        userinfo = authority.substr(0, at);
        hostlist = authority.substr(at + 1);
    }

    std::vector<HostPort> hosts;
    if (!hostlist.empty()) {
        std::size_t start = 0;
        while (true) {
            auto const comma = hostlist.find(',', start);
            auto const item = hostlist.substr(start, comma == std::string_view::npos ? comma : comma - start);
            HostPort hp;
            MSTEAMS_TRY_ASSIGN(hp, parse_host_port(item));
            hosts.push_back(std::move(hp));
            if (comma == std::string_view::npos) {
                break;
            }
            start = comma + 1;
        }
    }
    auto join = [&](auto member) {
        std::string out;
        bool any = false;
        for (std::size_t i = 0; i < hosts.size(); ++i) {
            if (i > 0) {
                out.push_back(',');
            }
            out += hosts[i].*member;
            any = any || !(hosts[i].*member).empty();
        }
        return any ? std::optional<std::string>(out) : std::nullopt;
    };
    if (auto host = join(&HostPort::host)) {
        params.set("host", std::move(*host));
    }
    if (auto port = join(&HostPort::port)) {
        params.set("port", std::move(*port));
    }

    if (!path.empty()) {
        auto dbname = decode(path, false);
        if (!dbname) {
            return malformed("bad percent-encoding in the database name");
        }
        params.set("dbname", std::move(*dbname));
    }
    if (!userinfo.empty()) {
        auto const colon = userinfo.find(':');
        auto user = decode(userinfo.substr(0, colon), false);
        if (!user) {
            return malformed("bad percent-encoding in the user name");
        }
        if (!user->empty()) {
            params.set("user", std::move(*user));
        }
        if (colon != std::string_view::npos) {
            auto password = decode(userinfo.substr(colon + 1), false);
            if (!password) {
                return malformed("bad percent-encoding in the password");
            }
            params.set("password", std::move(*password));
        }
    }

    // Query parameters override the parts above (as with libpq's own URLs). lib/pq passes unknown ones to the
    // server as settings; of those only search_path matters to us, and libpq sets it through `options`.
    std::string search_path_option;
    std::size_t start = 0;
    while (start <= query.size() && !query.empty()) {
        auto const amp = query.find('&', start);
        auto const item = query.substr(start, amp == std::string_view::npos ? amp : amp - start);
        if (!item.empty()) {
            auto const eq = item.find('=');
            auto key = decode(item.substr(0, eq), true);
            auto value = decode(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1), true);
            if (!key || !value) {
                return malformed("bad percent-encoding in the query");
            }
            if (is_libpq_keyword(*key)) {
                params.set(std::move(*key), std::move(*value));
            } else if (*key == "search_path" && !value->empty()) {
                search_path_option = "-c search_path=" + escape_option(*value);
            }
        }
        if (amp == std::string_view::npos) {
            break;
        }
        start = amp + 1;
    }
    if (!search_path_option.empty()) {
        auto options = params.get("options").value_or("");
        params.set("options", options.empty() ? search_path_option : options + " " + search_path_option);
    }
    if (!params.get("connect_timeout") && connect_timeout.count() > 0) {
        params.set("connect_timeout", std::to_string(connect_timeout.count()));
    }
    if (!params.get("application_name")) {
        params.set("application_name", "msteams-core");
    }
    return params.render();
}

}  // namespace msteams::store
