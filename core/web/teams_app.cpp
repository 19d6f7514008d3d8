#include "web/teams_app.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "sync/feed.hpp"
#include "web/detail/png.hpp"
#include "web/detail/zip.hpp"

namespace msteams::web {
namespace {

// --- icons --------------------------------------------------------------------------------------------------------

// The plugin's icon (assets/icon.svg, a 64×64 canvas): a rounded square of #4B53BC holding a white "T", and a person
// (head and body, the body at 85 % opacity). Returns the white's opacity at a point, 0 outside the figures.
double figure_at(double x, double y) {
    bool const t_bar = x >= 14 && x < 40 && y >= 20 && y < 26;
    bool const t_stem = x >= 24 && x < 30 && y >= 26 && y < 48;
    bool const head = (x - 47) * (x - 47) + (y - 21) * (y - 21) < 36;
    if (t_bar || t_stem || head) {
        return 1.0;
    }
    bool const body = x >= 40 && x < 54 && y >= 30 && (y < 42 || (x - 47) * (x - 47) + (y - 42) * (y - 42) < 49);
    return body ? 0.85 : 0.0;
}

bool square_at(double x, double y) {
    constexpr double r = 12;
    double const cx = std::clamp(x, r, 64 - r);
    double const cy = std::clamp(y, r, 64 - r);
    return x >= 0 && x < 64 && y >= 0 && y < 64 && (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
}

// Draws the icon at `side` pixels, 4×4 samples a pixel. With `background` the square is filled; without it the
// figures are drawn white (fully opaque) on transparency, as Teams wants an outline icon.
std::string draw_icon(unsigned side, bool background) {
    constexpr int k_samples = 4;
    constexpr double k_bg[3] = {0x4B, 0x53, 0xBC};
    std::vector<std::uint8_t> rgba(static_cast<std::size_t>(side) * side * 4);
    double const scale = 64.0 / side;
    for (unsigned py = 0; py < side; ++py) {
        for (unsigned px = 0; px < side; ++px) {
            double sum[3] = {0, 0, 0};  // premultiplied colour
            double alpha = 0;
            for (int sy = 0; sy < k_samples; ++sy) {
                for (int sx = 0; sx < k_samples; ++sx) {
                    double const x = (px + (sx + 0.5) / k_samples) * scale;
                    double const y = (py + (sy + 0.5) / k_samples) * scale;
                    double const white = figure_at(x, y);
                    if (!background) {
                        double const a = white > 0 ? 1.0 : 0.0;
                        for (double& c : sum) {
                            c += 255 * a;
                        }
                        alpha += a;
                    } else if (square_at(x, y)) {
                        for (int c = 0; c < 3; ++c) {
                            sum[c] += k_bg[c] * (1 - white) + 255 * white;
                        }
                        alpha += 1;
                    }
                }
            }
            auto* p = &rgba[(static_cast<std::size_t>(py) * side + px) * 4];
            for (int c = 0; c < 3; ++c) {
                p[c] = alpha > 0 ? static_cast<std::uint8_t>(std::lround(sum[c] / alpha)) : 0;
            }
            p[3] = static_cast<std::uint8_t>(std::lround(255 * alpha / (k_samples * k_samples)));
        }
    }
    auto png = detail::encode_png(side, side, rgba);
    if (!png) {
        throw std::runtime_error("drawing the default Teams app icon failed: " + png.error().message);
    }
    return *png;
}

// --- manifest -----------------------------------------------------------------------------------------------------

bool is_loopback(std::string_view authority) {
    auto const host = authority.substr(0, authority.rfind(':') == std::string_view::npos || authority.starts_with('[')
                                              ? authority.size()
                                              : authority.rfind(':'));
    return host == "localhost" || host == "127.0.0.1" || authority.starts_with("[::1]");
}

Status check_settings(TeamsAppSettings const& s) {
    if (!strings::is_guid(s.client_id)) {
        return fail(ErrorCode::conflict,
                    "Enter the Client ID of the app registration first: the package names it for single sign-on.");
    }
    if (!strings::is_guid(s.app_id)) {
        return fail(ErrorCode::conflict,
                    "The Teams app ID is not a GUID: save the plugin's settings once to generate "
                    "one, or enter one.");
    }
    auto const authority = url_authority(s.site_url);
    if (authority.empty() || s.site_url.size() > 1900) {
        return fail(ErrorCode::conflict,
                    "Set the Site URL (Environment > Web Server) first: Teams loads the app "
                    "from it.");
    }
    if (!s.site_url.starts_with("https://") && !is_loopback(authority)) {
        return fail(ErrorCode::conflict,
                    "Teams loads apps only over HTTPS: the Site URL (Environment > Web Server) must start with "
                    "https://.");
    }
    if (s.name.empty() || s.name.size() > k_max_app_name || !is_app_version(s.version)) {
        return fail(ErrorCode::conflict,
                    "The Teams app's name or version is not valid: check them in the plugin's "
                    "settings.");
    }
    return {};
}

// "Mattermost at chat.example.com", or "Contoso Chat (Mattermost at chat.example.com)": at most 100 bytes.
std::string full_name(std::string const& name, std::string const& authority) {
    auto const where = "Mattermost at " + authority;
    return strings::utf8_prefix(name == "Mattermost" ? where : name + " (" + where + ")", 100);
}

nlohmann::ordered_json manifest_json(TeamsAppSettings const& s) {
    using json = nlohmann::ordered_json;
    auto const authority = url_authority(s.site_url);
    json activities = json::array();
    for (auto const& a : sync::k_activity_types) {
        activities.push_back({{"type", std::string(a.type)},
                              {"description", std::string(a.description)},
                              {"templateText", std::string(a.template_text)}});
    }
    return json{
        {"$schema", k_manifest_schema},
        {"manifestVersion", k_manifest_version},
        {"version", s.version},
        {"id", strings::to_lower(s.app_id)},
        {"developer",
         {{"name", s.name}, {"websiteUrl", s.site_url}, {"privacyUrl", s.site_url}, {"termsOfUseUrl", s.site_url}}},
        {"name", {{"short", s.name}, {"full", full_name(s.name, authority)}}},
        {"description",
         {{"short", "Mattermost at " + strings::utf8_prefix(authority, 60)},
          {"full", "Your organization's Mattermost (" + strings::utf8_prefix(s.site_url, 2048) +
                       ") in Microsoft Teams: open it from the app's personal tab."}}},
        {"icons", {{"color", "color.png"}, {"outline", "outline.png"}}},
        {"accentColor", "#4B53BC"},
        {"staticTabs", json::array({{{"entityId", "mattermost"},
                                     {"name", s.name},
                                     {"contentUrl", s.site_url + "/plugins/com.mattermost.msteams" + k_tab_path},
                                     {"websiteUrl", s.site_url},
                                     {"scopes", json::array({"personal"})}}})},
        {"validDomains", json::array({authority})},
        {"webApplicationInfo",
         {{"id", strings::to_lower(s.client_id)}, {"resource", app_id_uri(s.site_url, s.client_id)}}},
        {"authorization",
         {{"permissions",
           {{"resourceSpecific", json::array({{{"name", k_activity_permission}, {"type", "Application"}}})}}}}},
        {"activities", {{"activityTypes", activities}}},
    };
}

// "Mattermost Teams" → "mattermost-teams": a file name a browser keeps as it is.
std::string file_stem(std::string_view name) {
    std::string out;
    for (char c : name) {
        bool const keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (keep) {
            out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        } else if (!out.empty() && out.back() != '-') {
            out += '-';
        }
    }
    while (!out.empty() && out.back() == '-') {
        out.pop_back();
    }
    return out.empty() ? "teams-app" : out;
}

}  // namespace

std::string const& default_color_icon() {
    static std::string const icon = draw_icon(k_color_icon_side, true);
    return icon;
}

std::string const& default_outline_icon() {
    static std::string const icon = draw_icon(k_outline_icon_side, false);
    return icon;
}

std::string url_authority(std::string_view url) {
    auto const scheme = url.find("://");
    if (scheme == std::string_view::npos) {
        return {};
    }
    auto rest = url.substr(scheme + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (rest.find('@') != std::string_view::npos) {
        return {};
    }
    return strings::to_lower(rest);
}

std::string app_id_uri(std::string_view site_url, std::string_view client_id) {
    return "api://" + url_authority(site_url) + "/" + strings::to_lower(client_id);
}

Result<std::string> teams_app_manifest(TeamsAppSettings const& settings) {
    MSTEAMS_TRY(check_settings(settings));
    return manifest_json(settings).dump(2) + "\n";
}

Result<std::string> teams_app_package(TeamsAppSettings const& settings) {
    std::string manifest;
    MSTEAMS_TRY_ASSIGN(manifest, teams_app_manifest(settings));
    return detail::make_zip({
        {"manifest.json", manifest},
        {"color.png", settings.color_icon.empty() ? default_color_icon() : settings.color_icon},
        {"outline.png", settings.outline_icon.empty() ? default_outline_icon() : settings.outline_icon},
    });
}

void install_teams_app_route(Router& router, std::shared_ptr<mm::Api> const& api,
                             std::function<std::optional<TeamsAppSettings>()> const& settings) {
    router.add(Route{"GET", k_teams_app_path, Access::user, 0, [api, settings](Request const& r) {
                         auto const admin = api->has_permission_to(r.user_id, "manage_system");
                         if (!admin || !*admin) {
                             return json_error(403, "forbidden", "Only system admins can download the Teams app.");
                         }
                         auto const current = settings ? settings() : std::nullopt;
                         if (!current) {
                             return not_active_json();
                         }
                         auto const zip = teams_app_package(*current);
                         if (!zip) {
                             int const status = zip.error().code == ErrorCode::conflict ? 409 : 500;
                             return json_error(status, "teams_app", zip.error().message);
                         }
                         log::info("a system admin downloaded the Teams app package",
                                   {{"user_id", r.user_id}, {"version", current->version}});
                         Response out;
                         out.status = 200;
                         out.body = *zip;
                         out.set("Content-Type", "application/zip")
                             .set("Content-Disposition", "attachment; filename=\"" + file_stem(current->name) + "-" +
                                                             current->version + ".zip\"")
                             .set("Cache-Control", "no-store")
                             .set("X-Content-Type-Options", "nosniff");
                         return out;
                     }});
}

}  // namespace msteams::web
