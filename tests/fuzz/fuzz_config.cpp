// libFuzzer target: the plugin settings parser (core/app/config.cpp), with and without generated secrets.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "app/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const text(reinterpret_cast<char const*>(data), size);
    msteams::app::ServerSettings server;
    server.site_url = "https://mm.example.com";
    server.sql_driver_name = "postgres";
    server.sql_data_source = "postgres://mm:pw@localhost:5432/mattermost?sslmode=disable";
    server.max_file_size = 100 << 20;
    server.server_version = "11.4.0";
    server.plugin_version = "1.0.0";
    (void)msteams::app::parse_config(text, server, size % 2 == 0);
    return 0;
}
