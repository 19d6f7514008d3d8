#include "web/pages.hpp"

namespace msteams::web {

std::string html_escape(std::string const& text) {
    std::string out;
    out.reserve(text.size() + 16);
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

Response html_page(int status, std::string const& title, std::string const& text) {
    Response r;
    r.status = status;
    r.set("Content-Type", "text/html; charset=utf-8");
    r.set("Cache-Control", "no-store");
    r.set("X-Content-Type-Options", "nosniff");
    r.set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'");
    r.body = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
             "</title><style>body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;"
             "color:#3f4350}h1{font-size:1.4em}</style></head><body><h1>" +
             html_escape(title) + "</h1><p>" + html_escape(text) + "</p></body></html>";
    return r;
}

}  // namespace msteams::web
