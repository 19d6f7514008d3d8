// The Teams app package: the ZIP writer (read back by an independent reader here, by Go's archive/zip and
// Microsoft's manifest validation in tests/e2e/teams_app_test.go), the icons, the manifest's fields and the admin
// route.
#include <catch2/catch.hpp>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../fake_api.hpp"
#include "app/config.hpp"
#include "common/strings.hpp"
#include "crypto/crypto.hpp"
#include "web/detail/png.hpp"
#include "web/detail/zip.hpp"
#include "web/router.hpp"
#include "web/teams_app.hpp"

using msteams::web::TeamsAppSettings;
using nlohmann::json;
namespace detail = msteams::web::detail;

namespace {

std::uint32_t le(std::string const& s, std::size_t at, int bytes) {
    std::uint32_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) {
        v = (v << 8U) | static_cast<unsigned char>(s.at(at + static_cast<std::size_t>(i)));
    }
    return v;
}

std::string inflate_raw(std::string const& packed, std::size_t size) {
    std::string out(size, '\0');
    z_stream z{};
    REQUIRE(inflateInit2(&z, -MAX_WBITS) == Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
    z.avail_in = static_cast<uInt>(packed.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int const rc = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    REQUIRE(rc == Z_STREAM_END);
    return out;
}

// Reads an archive the way unzip does: the end record, the central directory, each entry's local header and data;
// checks every CRC and that the two headers agree.
std::map<std::string, std::string> unzip(std::string const& zip) {
    REQUIRE(zip.size() >= 22);
    auto const end = zip.size() - 22;
    REQUIRE(le(zip, end, 4) == 0x06054b50);
    auto const count = le(zip, end + 10, 2);
    auto at = static_cast<std::size_t>(le(zip, end + 16, 4));
    REQUIRE(at + le(zip, end + 12, 4) == end);
    std::map<std::string, std::string> files;
    for (std::uint32_t i = 0; i < count; ++i) {
        REQUIRE(le(zip, at, 4) == 0x02014b50);
        auto const method = le(zip, at + 10, 2);
        auto const crc = le(zip, at + 16, 4);
        auto const packed = le(zip, at + 20, 4);
        auto const size = le(zip, at + 24, 4);
        auto const name_length = le(zip, at + 28, 2);
        auto const local = static_cast<std::size_t>(le(zip, at + 42, 4));
        auto const name = zip.substr(at + 46, name_length);
        at += 46 + name_length + le(zip, at + 30, 2) + le(zip, at + 32, 2);
        REQUIRE(le(zip, local, 4) == 0x04034b50);
        CHECK(le(zip, local + 8, 2) == method);
        CHECK(le(zip, local + 14, 4) == crc);
        CHECK(zip.substr(local + 30, le(zip, local + 26, 2)) == name);
        auto const body = zip.substr(local + 30 + le(zip, local + 26, 2) + le(zip, local + 28, 2), packed);
        REQUIRE((method == 0 || method == 8));
        auto data = method == 8 ? inflate_raw(body, size) : body;
        REQUIRE(data.size() == size);
        CHECK(crc32(0L, reinterpret_cast<Bytef const*>(data.data()), static_cast<uInt>(data.size())) == crc);
        files[name] = std::move(data);
    }
    return files;
}

// The RGBA pixels of a PNG that encode_png made (8-bit RGBA, filter None, one IDAT).
std::vector<std::uint8_t> pixels_of(std::string const& png, unsigned side) {
    auto const info = detail::read_png_info(png);
    REQUIRE(info);
    REQUIRE(info->color_type == 6);
    std::size_t at = 8;
    std::string idat;
    while (at + 8 <= png.size()) {
        auto const length = (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at])) << 24U) |
                            (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at + 1])) << 16U) |
                            (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at + 2])) << 8U) |
                            static_cast<unsigned char>(png[at + 3]);
        if (png.substr(at + 4, 4) == "IDAT") {
            idat += png.substr(at + 8, length);
        }
        at += 12 + length;
    }
    std::vector<std::uint8_t> raw(static_cast<std::size_t>(side) * (side * 4 + 1));
    uLongf size = raw.size();
    REQUIRE(uncompress(raw.data(), &size, reinterpret_cast<Bytef const*>(idat.data()), idat.size()) == Z_OK);
    REQUIRE(size == raw.size());
    std::vector<std::uint8_t> out;
    for (unsigned y = 0; y < side; ++y) {
        REQUIRE(raw[y * (side * 4 + 1)] == 0);
        auto const* row = &raw[y * (side * 4 + 1) + 1];
        out.insert(out.end(), row, row + side * 4);
    }
    return out;
}

std::string png_of_size(unsigned side) {
    auto png = detail::encode_png(side, side, std::vector<std::uint8_t>(static_cast<std::size_t>(side) * side * 4, 0));
    REQUIRE(png);
    return *png;
}

// A 32×32 RGBA PNG: a disc of `colour` (alpha 255) on transparency, its edge half transparent.
std::string outline_png(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
    std::vector<std::uint8_t> rgba(32 * 32 * 4, 0);
    for (int y = 0; y < 32; ++y) {
        for (int x = 0; x < 32; ++x) {
            int const d = (x - 16) * (x - 16) + (y - 16) * (y - 16);
            if (d < 100) {
                auto* p = &rgba[static_cast<std::size_t>(y * 32 + x) * 4];
                p[0] = r;
                p[1] = g;
                p[2] = b;
                p[3] = d < 81 ? 255 : 128;
            }
        }
    }
    auto png = detail::encode_png(32, 32, rgba);
    REQUIRE(png);
    return *png;
}

std::string white_outline() { return outline_png(255, 255, 255); }

// An 8-bit RGBA PNG whose row y is written with filter y % 5 (None, Sub, Up, Average, Paeth), filtered here
// independently of the decoder, as the PNG specification defines the filters.
std::string filtered_png(std::vector<std::uint8_t> const& rgba, std::uint32_t width, std::uint32_t height) {
    std::size_t const stride = width * 4;
    std::string raw;
    for (std::uint32_t y = 0; y < height; ++y) {
        int const filter = static_cast<int>(y % 5);
        raw += static_cast<char>(filter);
        for (std::size_t x = 0; x < stride; ++x) {
            int const cur = rgba[y * stride + x];
            int const a = x >= 4 ? rgba[y * stride + x - 4] : 0;
            int const b = y > 0 ? rgba[(y - 1) * stride + x] : 0;
            int const c = y > 0 && x >= 4 ? rgba[(y - 1) * stride + x - 4] : 0;
            int const p = a + b - c;
            int const pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
            int const predictor[5] = {0, a, b, (a + b) / 2, pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)};
            raw += static_cast<char>((cur - predictor[filter]) & 0xFF);
        }
    }
    auto const be = [](std::uint32_t v) {
        return std::string{static_cast<char>(v >> 24U), static_cast<char>((v >> 16U) & 0xFFU),
                           static_cast<char>((v >> 8U) & 0xFFU), static_cast<char>(v & 0xFFU)};
    };
    auto const chunk = [&](std::string const& type, std::string const& data) {
        auto const typed = type + data;
        return be(static_cast<std::uint32_t>(data.size())) + typed +
               be(static_cast<std::uint32_t>(
                   crc32(0L, reinterpret_cast<Bytef const*>(typed.data()), static_cast<uInt>(typed.size()))));
    };
    uLongf size = compressBound(raw.size());
    std::string packed(size, '\0');
    REQUIRE(compress(reinterpret_cast<Bytef*>(packed.data()), &size, reinterpret_cast<Bytef const*>(raw.data()),
                     raw.size()) == Z_OK);
    packed.resize(size);
    return std::string("\x89PNG\r\n\x1a\n", 8) +
           chunk("IHDR", be(width) + be(height) + std::string{'\x08', '\x06', 0, 0, 0}) + chunk("IDAT", packed) +
           chunk("IEND", "");
}

// A valid PNG without transparency (8-bit RGB), written chunk by chunk.
std::string opaque_png(unsigned side) {
    auto const be = [](std::uint32_t v) {
        return std::string{static_cast<char>(v >> 24U), static_cast<char>((v >> 16U) & 0xFFU),
                           static_cast<char>((v >> 8U) & 0xFFU), static_cast<char>(v & 0xFFU)};
    };
    auto const chunk = [&](std::string const& type, std::string const& data) {
        auto const typed = type + data;
        return be(static_cast<std::uint32_t>(data.size())) + typed +
               be(static_cast<std::uint32_t>(
                   crc32(0L, reinterpret_cast<Bytef const*>(typed.data()), static_cast<uInt>(typed.size()))));
    };
    std::string raw(static_cast<std::size_t>(side) * (side * 3 + 1), '\0');
    uLongf size = compressBound(raw.size());
    std::string packed(size, '\0');
    REQUIRE(compress(reinterpret_cast<Bytef*>(packed.data()), &size, reinterpret_cast<Bytef const*>(raw.data()),
                     raw.size()) == Z_OK);
    packed.resize(size);
    return std::string("\x89PNG\r\n\x1a\n", 8) +
           chunk("IHDR", be(side) + be(side) + std::string{'\x08', '\x02', 0, 0, 0}) + chunk("IDAT", packed) +
           chunk("IEND", "");
}

TeamsAppSettings settings() {
    TeamsAppSettings s;
    s.app_id = "0b6f3c2e-7d41-4a8e-9f10-2c3d4e5f6a7b";
    s.name = "Contoso Chat";
    s.version = "1.2.3";
    s.client_id = "1F0C6A52-3D7B-4F0E-8A3B-6C2D9E4F7A10";
    s.site_url = "https://chat.example.com";
    return s;
}

json manifest_of(TeamsAppSettings const& s) {
    auto const text = msteams::web::teams_app_manifest(s);
    REQUIRE(text);
    return json::parse(*text);
}

std::string conflict_of(TeamsAppSettings const& s) {
    auto const r = msteams::web::teams_app_manifest(s);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == msteams::ErrorCode::conflict);
    return r.error().message;
}

}  // namespace

TEST_CASE("zip: entries come back whole, deflated when that is smaller, stored otherwise", "[web]") {
    std::string const text(5000, 'a');
    std::string noise;
    for (int i = 0; i < 3000; ++i) {
        noise += static_cast<char>((i * 7919 + i / 13) & 0xFF);
    }
    auto const zip = detail::make_zip({{"manifest.json", text}, {"noise.bin", noise}, {"dir/empty.txt", ""}});
    REQUIRE(zip);
    auto const files = unzip(*zip);
    REQUIRE(files.size() == 3);
    CHECK(files.at("manifest.json") == text);
    CHECK(files.at("noise.bin") == noise);
    CHECK(files.at("dir/empty.txt").empty());
    CHECK(zip->size() < text.size());  // the repetitive text was deflated
    // The same entries make the same bytes (a fixed timestamp).
    CHECK(detail::make_zip({{"manifest.json", text}, {"noise.bin", noise}, {"dir/empty.txt", ""}}).value() == *zip);
}

TEST_CASE("zip: names must be relative and distinct, and sizes bounded", "[web]") {
    CHECK_FALSE(detail::make_zip({}));
    CHECK_FALSE(detail::make_zip({{"/etc/passwd", "x"}}));
    CHECK_FALSE(detail::make_zip({{"../x", "x"}}));
    CHECK_FALSE(detail::make_zip({{"", "x"}}));
    CHECK_FALSE(detail::make_zip({{"a", "x"}, {"a", "y"}}));
    CHECK_FALSE(detail::make_zip({{"big", std::string(detail::k_zip_max_entry + 1, 'x')}}));
}

TEST_CASE("png: the header of a PNG is read and a damaged one is refused with the reason", "[web]") {
    auto const png = png_of_size(32);
    auto const info = detail::read_png_info(png);
    REQUIRE(info);
    CHECK(info->width == 32);
    CHECK(info->height == 32);
    CHECK(info->has_transparency);
    auto const rgb = detail::read_png_info(opaque_png(32));
    REQUIRE(rgb);
    CHECK_FALSE(rgb->has_transparency);

    auto damaged = png;
    damaged[20] = static_cast<char>(damaged[20] ^ 1);  // inside IHDR
    CHECK_THAT(detail::read_png_info(damaged).error().message, Catch::Contains("checksum"));
    CHECK_THAT(detail::read_png_info(png.substr(0, png.size() - 5)).error().message, Catch::Contains("truncated"));
    CHECK_THAT(detail::read_png_info("GIF89a....").error().message, Catch::Contains("PNG signature"));
    CHECK_THAT(detail::read_png_info(png + "x").error().message, Catch::Contains("after its IEND"));
}

TEST_CASE("teams app: uploaded icons must be PNGs of Teams' sizes, the outline one transparent", "[web]") {
    CHECK(msteams::web::check_color_icon(png_of_size(192)));
    CHECK(msteams::web::check_outline_icon(white_outline()));
    CHECK(msteams::web::check_color_icon(opaque_png(192)));  // a colour icon may be opaque
    CHECK_THAT(msteams::web::check_color_icon(png_of_size(200)).error().message,
               Catch::Contains("must be 192×192 pixels; this one is 200×200"));
    CHECK_THAT(msteams::web::check_outline_icon(png_of_size(192)).error().message,
               Catch::Contains("must be 32×32 pixels"));
    CHECK_THAT(msteams::web::check_outline_icon(opaque_png(32)).error().message,
               Catch::Contains("transparent background"));
    CHECK_THAT(msteams::web::check_color_icon(std::string(65 * 1024, 'x')).error().message,
               Catch::Contains("larger than 64 KiB"));
    CHECK_THAT(msteams::web::check_color_icon("not a png").error().message, Catch::Contains("not a valid PNG"));
}

TEST_CASE("teams app: an outline icon must be white on transparency, with something drawn", "[web]") {
    CHECK(msteams::web::check_outline_icon(white_outline()));
    CHECK_THAT(msteams::web::check_outline_icon(outline_png(220, 0, 0)).error().message,
               Catch::Contains("must be white on a transparent background"));
    CHECK_THAT(msteams::web::check_outline_icon(png_of_size(32)).error().message, Catch::Contains("fully transparent"));
    // The pixels come back as drawn, through each of PNG's five row filters.
    std::vector<std::uint8_t> rgba(8 * 5 * 4);
    for (std::size_t i = 0; i < rgba.size(); ++i) {
        rgba[i] = static_cast<std::uint8_t>((i * 37 + i / 7 * 11) & 0xFF);
    }
    auto const round_trip = detail::decode_alpha_png(filtered_png(rgba, 8, 5), 100);
    REQUIRE(round_trip);
    REQUIRE(round_trip->has_value());
    CHECK(**round_trip == rgba);
    auto const decoded = detail::decode_alpha_png(white_outline(), 1024);
    REQUIRE(decoded);
    REQUIRE(decoded->has_value());
    CHECK((**decoded)[(16 * 32 + 16) * 4 + 3] == 255);
    CHECK((**decoded)[3] == 0);
    CHECK_FALSE(detail::decode_alpha_png(white_outline(), 1000));                     // more pixels than allowed
    CHECK_FALSE(detail::decode_alpha_png(opaque_png(32), 1024).value().has_value());  // no alpha: not decoded here
}

TEST_CASE("teams app: the default icons are the plugin's, in Teams' sizes and colours", "[web]") {
    auto const& color = msteams::web::default_color_icon();
    auto const& outline = msteams::web::default_outline_icon();
    REQUIRE(msteams::web::check_color_icon(color));
    REQUIRE(msteams::web::check_outline_icon(outline));

    auto const c = pixels_of(color, 192);
    auto const at = [&](unsigned x, unsigned y) { return &c[(y * 192 + x) * 4]; };
    CHECK(at(0, 0)[3] == 0);  // outside the rounded corner
    CHECK((at(96, 4)[0] == 0x4B && at(96, 4)[1] == 0x53 && at(96, 4)[2] == 0xBC && at(96, 4)[3] == 255));
    CHECK((at(60, 70)[0] == 255 && at(60, 70)[3] == 255));  // the T's bar: white

    // The outline icon: only white, on transparency, with something drawn.
    auto const o = pixels_of(outline, 32);
    int opaque = 0;
    for (std::size_t i = 0; i < o.size(); i += 4) {
        if (o[i + 3] > 0) {
            CHECK((o[i] == 255 && o[i + 1] == 255 && o[i + 2] == 255));
            opaque += o[i + 3] == 255 ? 1 : 0;
        }
    }
    CHECK(opaque > 50);
    CHECK(o[3] == 0);  // the corner is transparent
}

TEST_CASE("teams app: the manifest carries the app's settings, SSO and the activity types", "[web]") {
    auto const m = manifest_of(settings());
    CHECK(m["$schema"] == "https://developer.microsoft.com/json-schemas/teams/v1.22/MicrosoftTeams.schema.json");
    CHECK(m["manifestVersion"] == "1.22");
    CHECK(m["id"] == "0b6f3c2e-7d41-4a8e-9f10-2c3d4e5f6a7b");
    CHECK(m["version"] == "1.2.3");
    CHECK(m["name"]["short"] == "Contoso Chat");
    CHECK(m["name"]["full"] == "Contoso Chat (Mattermost at chat.example.com)");
    CHECK(m["icons"] == json{{"color", "color.png"}, {"outline", "outline.png"}});
    CHECK(m["webApplicationInfo"] == json{{"id", "1f0c6a52-3d7b-4f0e-8a3b-6c2d9e4f7a10"},
                                          {"resource", "api://chat.example.com/1f0c6a52-3d7b-4f0e-8a3b-6c2d9e4f7a10"}});
    CHECK(m["validDomains"] == json::array({"chat.example.com"}));
    REQUIRE(m["staticTabs"].size() == 1);
    CHECK(m["staticTabs"][0]["contentUrl"] == "https://chat.example.com/plugins/com.mattermost.msteams/tab");
    CHECK(m["staticTabs"][0]["scopes"] == json::array({"personal"}));
    CHECK(m["authorization"]["permissions"]["resourceSpecific"] ==
          json::array({{{"name", "TeamsActivity.Send.User"}, {"type", "Application"}}}));
    std::vector<std::string> types;
    for (auto const& a : m["activities"]["activityTypes"]) {
        types.push_back(a["type"]);
        CHECK_THAT(a["templateText"].get<std::string>(), Catch::Contains("{author}"));
        CHECK(a["templateText"].get<std::string>().size() <= 128);
    }
    // Those the activity feed sends (sync::k_activity_types): Graph refuses a type the installed app does not declare.
    CHECK(types ==
          std::vector<std::string>{"mention", "channelMention", "directMessage", "groupMessage", "threadReply"});
    CHECK(m["developer"]["websiteUrl"] == "https://chat.example.com");
}

TEST_CASE("teams app: a Site URL with a port or a path gives the host the Teams client sees", "[web]") {
    auto s = settings();
    s.site_url = "https://Chat.Example.com:8443/mattermost";
    auto m = manifest_of(s);
    CHECK(m["validDomains"] == json::array({"chat.example.com:8443"}));
    CHECK(m["webApplicationInfo"]["resource"] == "api://chat.example.com:8443/1f0c6a52-3d7b-4f0e-8a3b-6c2d9e4f7a10");
    CHECK(m["staticTabs"][0]["contentUrl"] ==
          "https://Chat.Example.com:8443/mattermost/plugins/com.mattermost.msteams/tab");
    s.site_url = "http://localhost:8065";  // a developer's server
    m = manifest_of(s);
    CHECK(m["validDomains"] == json::array({"localhost:8065"}));
}

TEST_CASE("teams app: no package without a client id, an HTTPS Site URL or a valid name and version", "[web]") {
    auto s = settings();
    s.client_id.clear();
    CHECK_THAT(conflict_of(s), Catch::Contains("Client ID"));
    s = settings();
    s.site_url = "http://chat.example.com";
    CHECK_THAT(conflict_of(s), Catch::Contains("HTTPS"));
    s.site_url.clear();
    CHECK_THAT(conflict_of(s), Catch::Contains("Site URL"));
    s = settings();
    s.version = "1.02.3";
    CHECK_THAT(conflict_of(s), Catch::Contains("version"));
    s = settings();
    s.app_id.clear();
    CHECK_THAT(conflict_of(s), Catch::Contains("app ID"));
}

TEST_CASE("teams app: versions are MAJOR.MINOR.PATCH without leading zeros", "[web]") {
    for (auto const* good : {"1.0.0", "0.0.1", "10.20.30"}) {
        CHECK(msteams::web::is_app_version(good));
    }
    for (auto const* bad : {"", "1", "1.0", "1.0.0.0", "01.0.0", "1.0.a", "1..0", "1.0.0-beta", " 1.0.0"}) {
        INFO(bad);
        CHECK_FALSE(msteams::web::is_app_version(bad));
    }
}

TEST_CASE("teams app: the package holds the manifest and the icons, uploaded ones when set", "[web]") {
    auto s = settings();
    auto files = unzip(msteams::web::teams_app_package(s).value());
    CHECK(files.size() == 3);
    CHECK(json::parse(files.at("manifest.json")) == manifest_of(s));
    CHECK(files.at("color.png") == msteams::web::default_color_icon());
    CHECK(files.at("outline.png") == msteams::web::default_outline_icon());
    s.color_icon = png_of_size(192);
    s.outline_icon = white_outline();
    files = unzip(msteams::web::teams_app_package(s).value());
    CHECK(files.at("color.png") == s.color_icon);
    CHECK(files.at("outline.png") == s.outline_icon);
}

TEST_CASE("teams app: the route serves the package to system admins only", "[web]") {
    auto api = std::make_shared<msteams::test::FakeApi>();
    api->admins.insert("adminuserid000000000000000");
    std::optional<TeamsAppSettings> current = settings();
    msteams::web::Router router;
    msteams::web::install_teams_app_route(router, api, [&] { return current; });
    auto const get = [&](std::string const& user) {
        msteams::web::Request q;
        q.method = "GET";
        q.path = msteams::web::k_teams_app_path;
        q.user_id = msteams::MmUserId(user);
        return router.handle(q);
    };
    auto ok = get("adminuserid000000000000000");
    REQUIRE(ok.status == 200);
    CHECK(ok.header("Content-Type") == "application/zip");
    CHECK(ok.header("Content-Disposition") == "attachment; filename=\"contoso-chat-1.2.3.zip\"");
    CHECK(unzip(ok.body).size() == 3);
    CHECK(get("someoneelse000000000000000").status == 403);
    CHECK(get("").status == 401);
    current->client_id.clear();
    auto const refused = get("adminuserid000000000000000");
    CHECK(refused.status == 409);
    CHECK_THAT(refused.body, Catch::Contains("Client ID"));
    current.reset();
    CHECK(get("adminuserid000000000000000").status == 503);
}

TEST_CASE("config: the Teams app settings are read, checked and defaulted", "[config]") {
    using msteams::app::parse_config;
    auto base = json::parse(msteams::test::valid_settings_json());
    auto r = parse_config(base.dump(), msteams::test::valid_server(), true);
    REQUIRE(r);
    auto const derived = r->config.teams_app_id;
    CHECK(msteams::strings::is_guid(derived));
    CHECK(derived[14] == '8');  // RFC 9562 version 8
    CHECK(r->config.teams_app_name == "Mattermost");
    CHECK(r->config.teams_app_version == "1.0.0");
    CHECK(r->generated_keys.empty());
    // The same client id always gives the same app id; another gives another.
    CHECK(parse_config(base.dump(), msteams::test::valid_server(), true)->config.teams_app_id == derived);
    auto other = base;
    other["clientid"] = "2a0c6a52-3d7b-4f0e-8a3b-6c2d9e4f7a10";
    CHECK(parse_config(other.dump(), msteams::test::valid_server(), true)->config.teams_app_id != derived);

    auto set = base;
    set["teamsappid"] = "0b6f3c2e-7d41-4a8e-9f10-2c3d4e5f6a7b";
    set["teamsappname"] = "Contoso Chat";
    set["teamsappversion"] = "2.0.1";
    set["teamsappcoloricon"] = msteams::crypto::base64_encode(png_of_size(192));
    set["teamsappoutlineicon"] = msteams::crypto::base64_encode(white_outline());
    r = parse_config(set.dump(), msteams::test::valid_server(), true);
    REQUIRE(r);
    CHECK(r->config.teams_app_id == "0b6f3c2e-7d41-4a8e-9f10-2c3d4e5f6a7b");
    CHECK(r->config.teams_app_name == "Contoso Chat");
    CHECK(r->config.teams_app_version == "2.0.1");
    CHECK(r->config.teams_app_color_icon == png_of_size(192));
    CHECK(r->config.teams_app_outline_icon == white_outline());

    auto const error_with = [&](std::string const& key, json value) {
        auto j = base;
        j[key] = std::move(value);
        auto const bad = parse_config(j.dump(), msteams::test::valid_server(), true);
        REQUIRE_FALSE(bad);
        return bad.error().message;
    };
    CHECK_THAT(error_with("teamsappid", "not-a-guid"), Catch::Contains("Teams app ID (teamsAppId) must be a GUID"));
    CHECK_THAT(error_with("teamsappname", std::string(31, 'x')), Catch::Contains("at most 30 characters"));
    CHECK_THAT(error_with("teamsappversion", "1.0"), Catch::Contains("Teams app version (teamsAppVersion)"));
    CHECK_THAT(error_with("teamsappcoloricon", msteams::crypto::base64_encode(png_of_size(32))),
               Catch::Contains("Teams app colour icon (teamsAppColorIcon) must be 192×192 pixels; this one is 32×32"));
    CHECK_THAT(error_with("teamsappoutlineicon", msteams::crypto::base64_encode(opaque_png(32))),
               Catch::Contains("transparent background"));
    CHECK_THAT(error_with("teamsappoutlineicon", "%%%"), Catch::Contains("not a base64-encoded PNG"));
    CHECK_THAT(error_with("teamsappcoloricon", std::string(200'000, 'A')), Catch::Contains("larger than 64 KiB"));
}
