// libFuzzer target: what rich notifications bring from outside (core/crypto/rich.cpp): a key set as Microsoft publishes
// it, a validation token, and an item's encryptedContent. The first byte picks which; the rest is the input. Refusals
// are fine; a crash, a leak or an accepted forgery are not.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/rich.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace msteams;

struct Keys {
    crypto::EncryptionCertificate certificate = crypto::make_encryption_certificate("fuzz", 0, 4'000'000'000);
    crypto::Jwks jwks =
        crypto::Jwks::parse(R"({"keys":[)" + crypto::public_jwk(certificate.private_key_pem, "k1") + "]}").value();
};

Keys const& keys() {
    static Keys const k;
    return k;
}

// The next '\n'-separated field of `rest` (all of it when there is no newline).
std::string_view field(std::string_view& rest) {
    auto const nl = rest.find('\n');
    auto const out = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::string_view rest(reinterpret_cast<char const*>(data) + 1, size - 1);
    switch (data[0] % 3) {
        case 0: {
            auto const set = crypto::Jwks::parse(rest);
            fuzz::require(!set || set->size() <= 32, "a key set over its limit was accepted");
            break;
        }
        case 1: {
            // Only a token signed with the fuzz key verifies; the fuzzer cannot make one, so any success is a forgery.
            auto const payload = crypto::verify_rs256_jwt(rest, keys().jwks);
            fuzz::require(!payload, "a token not signed with the key verified");
            break;
        }
        default: {
            auto const b64 = field(rest);
            auto const key = field(rest);
            auto const signature = field(rest);
            auto const opened = crypto::decrypt_rich_content(keys().certificate.private_key_pem, b64, key, signature);
            fuzz::require(opened.ok || opened.plaintext.empty(), "a refused item left plaintext behind");
            break;
        }
    }
    return 0;
}
