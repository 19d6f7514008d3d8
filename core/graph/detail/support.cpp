#include "graph/detail/support.hpp"

#include <cstdio>

#include "common/strings.hpp"
#include "crypto/crypto.hpp"

namespace msteams::graph::detail {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    std::int64_t const era = (y >= 0 ? y : y - 399) / 400;
    auto const yoe = static_cast<unsigned>(y - era * 400);
    unsigned const doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned const doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
    std::int64_t year;
    unsigned month;
    unsigned day;
};

Civil civil_from_days(std::int64_t z) {
    z += 719468;
    std::int64_t const era = (z >= 0 ? z : z - 146096) / 146097;
    auto const doe = static_cast<unsigned>(z - era * 146097);
    unsigned const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned const mp = (5 * doy + 2) / 153;
    unsigned const d = doy - (153 * mp + 2) / 5 + 1;
    unsigned const m = mp < 10 ? mp + 3 : mp - 9;
    return Civil{static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, std::size_t& pos, std::size_t n, unsigned& out) {
    if (pos + n > s.size()) {
        return false;
    }
    out = 0;
    for (std::size_t i = 0; i < n; ++i) {
        char const c = s[pos + i];
        if (!is_digit(c)) {
            return false;
        }
        out = out * 10 + static_cast<unsigned>(c - '0');
    }
    pos += n;
    return true;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
    if (pos < s.size() && s[pos] == c) {
        ++pos;
        return true;
    }
    return false;
}

unsigned days_in_month(unsigned y, unsigned m) {
    static constexpr unsigned k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool const leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : k_days[m - 1];
}

}  // namespace

std::optional<std::int64_t> parse_time(std::string_view s) {
    std::size_t pos = 0;
    unsigned year = 0;
    unsigned month = 0;
    unsigned day = 0;
    unsigned hour = 0;
    unsigned minute = 0;
    unsigned second = 0;
    if (!digits(s, pos, 4, year) || !expect(s, pos, '-') || !digits(s, pos, 2, month) || !expect(s, pos, '-') ||
        !digits(s, pos, 2, day) || !(expect(s, pos, 'T') || expect(s, pos, 't')) || !digits(s, pos, 2, hour) ||
        !expect(s, pos, ':') || !digits(s, pos, 2, minute) || !expect(s, pos, ':') || !digits(s, pos, 2, second)) {
        return std::nullopt;
    }
    if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
        second > 60) {
        return std::nullopt;
    }
    std::int64_t millis = 0;
    if (expect(s, pos, '.')) {
        std::size_t n = 0;
        for (; pos < s.size() && is_digit(s[pos]); ++pos, ++n) {
            if (n < 3) {
                millis = millis * 10 + (s[pos] - '0');
            }
        }
        if (n == 0) {
            return std::nullopt;
        }
        for (; n < 3; ++n) {
            millis *= 10;
        }
    }
    std::int64_t offset_minutes = 0;
    if (expect(s, pos, 'Z') || expect(s, pos, 'z')) {
        // UTC
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        int const sign = s[pos] == '-' ? -1 : 1;
        ++pos;
        unsigned oh = 0;
        unsigned om = 0;
        if (!digits(s, pos, 2, oh) || !expect(s, pos, ':') || !digits(s, pos, 2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset_minutes = sign * static_cast<std::int64_t>(oh * 60 + om);
    } else {
        return std::nullopt;
    }
    if (pos != s.size()) {
        return std::nullopt;
    }
    std::int64_t const days = days_from_civil(year, month, day);
    std::int64_t const secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    return secs * 1000 + millis;
}

std::string format_time(std::int64_t unix_ms) {
    std::int64_t days = unix_ms / 86'400'000;
    std::int64_t rest = unix_ms % 86'400'000;
    if (rest < 0) {
        rest += 86'400'000;
        --days;
    }
    auto const c = civil_from_days(days);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(c.year),
                  c.month, c.day, static_cast<long long>(rest / 3'600'000), static_cast<long long>(rest / 60'000 % 60),
                  static_cast<long long>(rest / 1000 % 60), static_cast<long long>(rest % 1000));
    return buf;
}

std::string path_segment(std::string_view s) { return strings::url_encode(s); }

std::string share_token(std::string_view url) { return "u!" + crypto::base64url_encode(url); }

std::string odata_string(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        out += c;
        if (c == '\'') {
            out += '\'';
        }
    }
    return out + "'";
}

}  // namespace msteams::graph::detail
