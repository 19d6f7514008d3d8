#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "mm/api.hpp"
#include "web/teams_app_checks.hpp"
#include "web/router.hpp"

// The Teams app package system admins upload to the Teams admin center (docs/embedded.md): manifest.json (schema
// v1.22), color.png and outline.png in a ZIP archive, built from the plugin's settings on every download.
namespace msteams::web {

inline constexpr char const* k_teams_app_path = "/admin/teams-app.zip";
// The personal tab's page, below /plugins/com.mattermost.msteams (the manifest's contentUrl).
inline constexpr char const* k_tab_path = "/tab";
inline constexpr char const* k_manifest_schema =
    "https://developer.microsoft.com/json-schemas/teams/v1.22/MicrosoftTeams.schema.json";
inline constexpr char const* k_manifest_version = "1.22";

// The resource-specific permission that lets the app send those to a user who has it installed.
inline constexpr char const* k_activity_permission = "TeamsActivity.Send.User";

// What the package is made of. Icons are PNG bytes; empty means the default icon.
struct TeamsAppSettings {
    std::string app_id;   // the Teams app's GUID (not the Entra client id)
    std::string name;     // 1 to 30 characters
    std::string version;  // MAJOR.MINOR.PATCH
    std::string client_id;
    std::string site_url;  // Mattermost's Site URL, without a trailing slash
    std::string color_icon;
    std::string outline_icon;
};

// The default icons, drawn from the plugin's icon (assets/icon.svg): 192×192 full colour; 32×32 white on transparent.
[[nodiscard]] std::string const& default_color_icon();
[[nodiscard]] std::string const& default_outline_icon();

// The host (and port, if any) of an http(s) URL: "chat.example.com" of "https://chat.example.com/mm/".
[[nodiscard]] std::string url_authority(std::string_view url);

// The Application ID URI the Teams tab's SSO tokens are issued for (webApplicationInfo.resource, the tokens'
// audience): api://<the Site URL's host[:port]>/<client id>.
[[nodiscard]] std::string app_id_uri(std::string_view site_url, std::string_view client_id);

// manifest.json. conflict when the settings cannot make a package Teams accepts (no client id, no Site URL, a Site
// URL that is not HTTPS on a host other than the loopback one), with what to do.
[[nodiscard]] Result<std::string> teams_app_manifest(TeamsAppSettings const& settings);
// The ZIP archive: manifest.json, color.png, outline.png.
[[nodiscard]] Result<std::string> teams_app_package(TeamsAppSettings const& settings);

// GET /admin/teams-app.zip: the package, for system admins (403 for anyone else, 409 with the reason while the
// settings cannot make one, 503 while the plugin is not active: `settings` returns nullopt).
void install_teams_app_route(Router& router, std::shared_ptr<mm::Api> const& api,
                             std::function<std::optional<TeamsAppSettings>()> const& settings);

}  // namespace msteams::web
