#include <catch2/catch.hpp>

#include "common/strings.hpp"

namespace s = msteams::strings;

TEST_CASE("strings: url_decode decodes escapes and plus, refuses malformed escapes", "[strings]") {
    CHECK(s::url_decode("a%2Bb+c%20d").value() == "a+b c d");
    CHECK(s::url_decode("%e2%9c%93").value() == "\xe2\x9c\x93");
    CHECK_FALSE(s::url_decode("%").has_value());
    CHECK_FALSE(s::url_decode("abc%4").has_value());
    CHECK_FALSE(s::url_decode("%zz").has_value());
    CHECK(s::url_decode("").value().empty());
}

TEST_CASE("strings: url_encode round-trips through url_decode", "[strings]") {
    std::string const raw = "Validation: token=a+b/c?d&e \xe2\x9c\x93";
    CHECK(s::url_decode(s::url_encode(raw)).value() == raw);
    CHECK(s::url_encode("a b") == "a%20b");
}

TEST_CASE("strings: parse_query keeps order and decodes", "[strings]") {
    auto const q = s::parse_query("b=2&a=x%3Dy&&flag");
    REQUIRE(q.has_value());
    REQUIRE(q->size() == 3);
    CHECK((*q)[0] == std::pair<std::string, std::string>{"b", "2"});
    CHECK((*q)[1] == std::pair<std::string, std::string>{"a", "x=y"});
    CHECK((*q)[2] == std::pair<std::string, std::string>{"flag", ""});
    CHECK_FALSE(s::parse_query("a=%G1").has_value());
}

TEST_CASE("strings: guid, words, trim, case", "[strings]") {
    CHECK(s::is_guid("8e7c2c3a-6a8b-4b6e-9d7e-2f0a1c9b5d41"));
    CHECK_FALSE(s::is_guid("8e7c2c3a-6a8b-4b6e-9d7e-2f0a1c9b5d4"));
    CHECK_FALSE(s::is_guid("8e7c2c3a-6a8b-4b6e-9d7e-2f0a1c9b5d4g"));
    CHECK_FALSE(s::is_guid("8e7c2c3a06a8b-4b6e-9d7e-2f0a1c9b5d41"));
    CHECK(s::split_words("  a \t b\nc  ") == std::vector<std::string>{"a", "b", "c"});
    CHECK(s::split_words("   ").empty());
    CHECK(s::split("a,,b", ',') == std::vector<std::string>{"a", "", "b"});
    CHECK(s::split("", ',') == std::vector<std::string>{""});
    CHECK(s::split("19:a_b@unq.gbl.spaces", '_').size() == 2);
    CHECK(s::trim("  x y \n") == "x y");
    CHECK(s::iequals("MsTeams", "msteams"));
    CHECK_FALSE(s::iequals("msteams", "msteam"));
}

TEST_CASE("strings: constant_time_equal compares content and length", "[strings]") {
    CHECK(s::constant_time_equal("secret", "secret"));
    CHECK_FALSE(s::constant_time_equal("secret", "secreT"));
    CHECK_FALSE(s::constant_time_equal("secret", "secret2"));
    CHECK_FALSE(s::constant_time_equal("", "x"));
    CHECK(s::constant_time_equal("", ""));
}
