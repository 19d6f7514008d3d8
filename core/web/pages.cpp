#include "web/pages.hpp"

#include "common/strings.hpp"
#include "crypto/crypto.hpp"

namespace msteams::web {
using strings::html_escape;

namespace {

constexpr char const* k_style =
    "body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#3f4350}"
    "h1{font-size:1.4em}a{color:#1c58d9}";

// Posts the outcome to the opener, same origin only, then closes the pop-up. Without an opener (a tab opened from a
// link) it does nothing and the page stays, with its link back.
constexpr char const* k_result_script =
    "(function(){var o=window.opener;if(!o||o===window){return;}var b=document.body;"
    "try{o.postMessage({type:'com.mattermost.msteams:connect-result',outcome:b.getAttribute('data-outcome'),"
    "message:b.getAttribute('data-message')},window.location.origin);}catch(e){return;}"
    "setTimeout(function(){window.close();},400);})();";

std::string const& result_script_hash() {
    static std::string const hash = "sha256-" + crypto::base64_encode(crypto::sha256(k_result_script));
    return hash;
}

Response page_response(int status, std::string const& csp) {
    Response r;
    r.status = status;
    r.set("Content-Type", "text/html; charset=utf-8");
    r.set("Cache-Control", "no-store");
    r.set("X-Content-Type-Options", "nosniff");
    r.set("Referrer-Policy", "no-referrer");
    r.set("Content-Security-Policy", csp);
    return r;
}

}  // namespace

Response html_page(int status, std::string const& title, std::string const& text) {
    auto r = page_response(status, "default-src 'none'; style-src 'unsafe-inline'");
    r.body = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
             "</title><style>" + k_style + "</style></head><body><h1>" + html_escape(title) + "</h1><p>" +
             html_escape(text) + "</p></body></html>";
    return r;
}

char const* to_string(ConnectOutcome outcome) noexcept {
    switch (outcome) {
        case ConnectOutcome::connected: return "connected";
        case ConnectOutcome::refused: return "refused";
        case ConnectOutcome::cancelled: return "cancelled";
        case ConnectOutcome::failed: return "failed";
    }
    return "failed";
}

Response connect_result_page(int status, ConnectOutcome outcome, std::string const& title, std::string const& text) {
    auto r = page_response(status,
                           "default-src 'none'; style-src 'unsafe-inline'; script-src '" + result_script_hash() + "'");
    // The page is served at <site>/plugins/<id>/<route>, so "../../" is the site root on any subpath.
    r.body = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
             "</title><style>" + k_style + "</style></head><body data-outcome=\"" + to_string(outcome) +
             "\" data-message=\"" + html_escape(text) + "\"><h1>" + html_escape(title) + "</h1><p>" +
             html_escape(text) + "</p><p><a href=\"../../\">Back to Mattermost</a></p><script>" + k_result_script +
             "</script></body></html>";
    return r;
}

}  // namespace msteams::web
