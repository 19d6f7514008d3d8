#include <catch2/catch.hpp>

#include <string>

#include "app/config.hpp"

TEST_CASE("config: deeply nested settings are refused, not parsed recursively", "[config]") {
    // Found with fuzz_config in mind: nested brackets overflowed nlohmann's recursive parser.
    msteams::app::ServerSettings server;
    server.sql_driver_name = "postgres";
    server.sql_data_source = "postgres://u:p@localhost/mm";
    std::string const deep = R"({"tenantId":)" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
    auto const parsed = msteams::app::parse_config(deep, server, false);
    REQUIRE_FALSE(parsed.has_value());
    CHECK(parsed.error().code == msteams::ErrorCode::invalid_argument);
}
