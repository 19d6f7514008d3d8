#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/backoff.hpp"
#include "common/log.hpp"
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

TEST_CASE("strings: utf8_prefix never cuts a character", "[strings]") {
    using msteams::strings::utf8_prefix;
    std::string const s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
    CHECK(utf8_prefix(s, 100) == s);
    CHECK(utf8_prefix(s, 0).empty());
    CHECK(utf8_prefix(s, 1) == "a");
    CHECK(utf8_prefix(s, 2) == "a");
    CHECK(utf8_prefix(s, 3) == "a\xC3\xA9");
    CHECK(utf8_prefix(s, 5) == "a\xC3\xA9");
    CHECK(utf8_prefix(s, 6) == "a\xC3\xA9\xE2\x82\xAC");
    CHECK(utf8_prefix(s, 9) == "a\xC3\xA9\xE2\x82\xAC");
    CHECK(utf8_prefix(s, 10) == "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
    for (std::size_t n = 0; n <= s.size(); ++n) {
        CHECK(msteams::strings::is_valid_utf8(utf8_prefix(s, n)));
    }
}

TEST_CASE("strings: to_valid_utf8 replaces each ill-formed sequence with U+FFFD", "[strings]") {
    using msteams::strings::is_valid_utf8;
    using msteams::strings::to_valid_utf8;
    std::string const fffd = "\xEF\xBF\xBD";
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("plain \xC3\xA9 \xF4\x8F\xBF\xBF"));
    CHECK(to_valid_utf8("plain \xC3\xA9") == "plain \xC3\xA9");
    CHECK_FALSE(is_valid_utf8("\xFF"));
    CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
    CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // a surrogate
    CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    CHECK_FALSE(is_valid_utf8("cut \xE2\x82"));      // truncated at the end
    CHECK(to_valid_utf8("a\xFF"
                        "b") == "a" + fffd + "b");
    CHECK(to_valid_utf8("cut \xE2\x82") == "cut " + fffd);
    CHECK(to_valid_utf8("\xE2\x82"
                        "x") == fffd + "x");
    CHECK(to_valid_utf8("\xC0\xAF") == fffd + fffd);
    CHECK(to_valid_utf8("\xED\xA0\x80") == fffd + fffd + fffd);
    CHECK(is_valid_utf8(to_valid_utf8(std::string("\x80\x81\xF0\x9F\x98", 5))));
}

namespace {

class CapturingSink : public msteams::log::Sink {
public:
    void write(msteams::log::Level, std::string_view message, msteams::log::Fields const& fields) noexcept override {
        lines.emplace_back(message);
        for (auto const& [k, v] : fields) {
            lines.back() += " " + k + "=" + v;
        }
    }
    std::vector<std::string> lines;
};

}  // namespace

TEST_CASE("log: every line reaching the sink is valid UTF-8", "[strings][log]") {
    auto sink = std::make_shared<CapturingSink>();
    msteams::log::set_sink(sink);
    msteams::log::warn("bad \xFF message", {{"description", std::string(299, 'x') + "\xC3"}, {"ok", "\xC3\xA9"}});
    msteams::log::set_sink(nullptr);
    REQUIRE(sink->lines.size() == 1);
    CHECK(msteams::strings::is_valid_utf8(sink->lines[0]));
    CHECK_THAT(sink->lines[0], Catch::StartsWith("bad \xEF\xBF\xBD message") && Catch::EndsWith("ok=\xC3\xA9"));
}

TEST_CASE("strings: character references decode to UTF-8, non-characters to U+FFFD", "[strings]") {
    using msteams::strings::decode_character_reference;
    CHECK(decode_character_reference("amp") == "&");
    CHECK(decode_character_reference("commat") == "@");
    CHECK(decode_character_reference("nbsp") == "\xC2\xA0");
    CHECK(decode_character_reference("#64") == "@");
    CHECK(decode_character_reference("#x40") == "@");
    CHECK(decode_character_reference("#X1F600") == "\xF0\x9F\x98\x80");
    CHECK(decode_character_reference("#xE9") == "\xC3\xA9");
    CHECK(decode_character_reference("#x800") == "\xE0\xA0\x80");
    CHECK(decode_character_reference("#0") == "\xEF\xBF\xBD");
    CHECK(decode_character_reference("#xD800") == "\xEF\xBF\xBD");
    CHECK(decode_character_reference("#x110000") == "\xEF\xBF\xBD");
    CHECK(decode_character_reference("#99999999999999999999999999") == "\xEF\xBF\xBD");
    CHECK_FALSE(decode_character_reference("#"));
    CHECK_FALSE(decode_character_reference("#x"));
    CHECK_FALSE(decode_character_reference("#12a"));
    CHECK_FALSE(decode_character_reference("#xG1"));
    CHECK_FALSE(decode_character_reference("copy"));
    CHECK_FALSE(decode_character_reference(""));
}

TEST_CASE("strings: html_escape makes text safe in element content and quoted attributes", "[common]") {
    CHECK(msteams::strings::html_escape(R"(<a href="x" onclick='y'>&amp;</a>)") ==
          "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
    CHECK(msteams::strings::html_escape("plain é") == "plain é");
}

TEST_CASE("common: backoff doubles from its base up to its cap — items wait at least Retry-After", "[common]") {
    using namespace std::chrono_literals;
    CHECK(msteams::backoff(0, 250ms, 10s) == 250ms);
    CHECK(msteams::backoff(3, 250ms, 10s) == 2s);
    CHECK(msteams::backoff(6, 250ms, 10s) == 10s);
    CHECK(msteams::backoff(1000, 250ms, 10s) == 10s);  // no overflow however many attempts
    CHECK(msteams::backoff(-1, 250ms, 10s) == 250ms);
    CHECK(msteams::retry_delay(0, 0s) == 1s);
    CHECK(msteams::retry_delay(9, 0s) == 5min);
    CHECK(msteams::retry_delay(2, 30s) == 30s);
}
