#pragma once

#include <string>

#include "web/router.hpp"

namespace msteams::web {

// A small self-contained HTML page (for the browser window of the OAuth flow). Title and text are escaped.
Response html_page(int status, std::string const& title, std::string const& text);

std::string html_escape(std::string const& text);

}  // namespace msteams::web
