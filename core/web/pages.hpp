#pragma once

#include <string>

#include "web/router.hpp"

namespace msteams::web {

// A small self-contained HTML page (for the browser window of the OAuth flow). Title and text are escaped.
Response html_page(int status, std::string const& title, std::string const& text);

// How the connect flow ended, as the window that opened it learns it.
enum class ConnectOutcome {
    connected,
    refused,    // Microsoft or the bridge said no for a reason meant for the user (another email, a stale link)
    cancelled,  // the user cancelled at Microsoft or did not grant the permissions
    failed,     // the server or Microsoft failed; the details are in the server log
};

char const* to_string(ConnectOutcome outcome) noexcept;

// The page that ends a connect flow in its window: what happened, a link back to Mattermost, and, when Mattermost
// opened it as a pop-up, a script that tells the opener the outcome (postMessage to this page's own origin only, so
// no other site can read it) and closes the window. The script is fixed and allowed by its hash; the outcome and
// text travel in escaped attributes, never in script.
Response connect_result_page(int status, ConnectOutcome outcome, std::string const& title, std::string const& text);

// The message type the script posts ({type, outcome, message}); the webapp listens for it.
inline constexpr char const* k_connect_result_message = "com.mattermost.msteams:connect-result";

}  // namespace msteams::web
