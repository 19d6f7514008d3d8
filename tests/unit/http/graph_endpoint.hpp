#pragma once

#include "http/tls_server.hpp"  // first: it includes <utility> before Asio

#include <string>

#include "common/strings.hpp"

namespace msteams::test {

// The plugin's endpoints as Graph sees them: answers the validation handshake, accepts notifications (202).
inline Reply endpoint_reply(Seen const& s) {
    Reply r;
    auto const q = s.target.find('?');
    auto const params = strings::parse_query(q == std::string::npos ? "" : s.target.substr(q + 1));
    if (params) {
        for (auto const& [k, v] : *params) {
            if (k == "validationToken") {
                r.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
                r.body = v;
                return r;
            }
        }
    }
    r.status = 202;
    return r;
}

}  // namespace msteams::test
