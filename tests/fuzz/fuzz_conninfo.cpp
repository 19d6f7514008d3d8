// libFuzzer target: Mattermost's SqlSettings.DataSource → libpq conninfo (core/store/conninfo.cpp).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"
#include "store/database.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const text(reinterpret_cast<char const*>(data), size);
    auto const conninfo = msteams::store::to_libpq_conninfo(text, std::chrono::seconds(5));
    if (conninfo) {
        msteams::fuzz::require(conninfo->find('\0') == std::string::npos, "NUL in a conninfo string");
    }
    return 0;
}
