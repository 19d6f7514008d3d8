#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "crypto/crypto.hpp"

namespace c = msteams::crypto;
using msteams::ErrorCode;

namespace {

std::string hex(std::string_view bytes) {
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += k_digits[b >> 4];
        out += k_digits[b & 15];
    }
    return out;
}

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

}  // namespace

TEST_CASE("crypto: sha256 known answers (FIPS 180-2 examples)", "[crypto]") {
    CHECK(hex(c::sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hex(c::sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex(c::sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("crypto: hmac_sha256 matches the RFC 4231 vectors", "[crypto]") {
    std::string key4;
    for (int i = 1; i <= 25; ++i) {
        key4 += static_cast<char>(i);
    }
    CHECK(hex(c::hmac_sha256(repeat('\x0b', 20), "Hi There")) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK(hex(c::hmac_sha256("Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(hex(c::hmac_sha256(repeat('\xaa', 20), repeat('\xdd', 50))) ==
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    CHECK(hex(c::hmac_sha256(key4, repeat('\xcd', 50))) ==
          "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    CHECK(hex(c::hmac_sha256(repeat('\xaa', 131), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK(hex(c::hmac_sha256(repeat('\xaa', 131),
                             "This is a test using a larger than block-size key and a larger than block-size data. "
                             "The key needs to be hashed before being used by the HMAC algorithm.")) ==
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    // An empty key is valid HMAC.
    CHECK(hex(c::hmac_sha256("", "")) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("crypto: base64 encodes and decodes the RFC 4648 vectors", "[crypto]") {
    std::pair<char const*, char const*> const vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (auto const& [plain, encoded] : vectors) {
        INFO(plain);
        CHECK(c::base64_encode(plain) == encoded);
        auto const decoded = c::base64_decode(encoded);
        REQUIRE(decoded.has_value());
        CHECK(*decoded == plain);
        // base64url: the same without padding, and padding is optional when decoding.
        std::string unpadded = encoded;
        while (!unpadded.empty() && unpadded.back() == '=') {
            unpadded.pop_back();
        }
        CHECK(c::base64url_encode(plain) == unpadded);
        CHECK(c::base64url_decode(unpadded).value() == plain);
        CHECK(c::base64url_decode(encoded).value() == plain);
    }
}

TEST_CASE("crypto: base64 and base64url use their own alphabets", "[crypto]") {
    std::string const bytes = "\xfb\xff\xbf";
    CHECK(c::base64_encode(bytes) == "+/+/");
    CHECK(c::base64url_encode(bytes) == "-_-_");
    CHECK(c::base64_decode("+/+/").value() == bytes);
    CHECK(c::base64url_decode("-_-_").value() == bytes);
    CHECK(c::base64_decode("-_-_").error().code == ErrorCode::invalid_argument);
    CHECK(c::base64url_decode("+/+/").error().code == ErrorCode::invalid_argument);
}

TEST_CASE("crypto: decoding is strict about characters and padding", "[crypto]") {
    char const* const bad_base64[] = {
        "Zg",      // padding required
        "Zg=",     // incomplete padding
        "Zg===",   // too much padding
        "Zm9v=",   // padding after a full group
        "Z===",    // a lone character cannot encode a byte
        "Zm 9v",   // white space
        "Zm9v\n",  // new line
        "Zm9*",    // not in the alphabet
        "Zm=v",    // padding in the middle
        "Zh==",    // non-zero trailing bits (not the canonical "Zg==")
        "=",       // padding only
        "====",
    };
    for (auto const* text : bad_base64) {
        INFO(text);
        auto const r = c::base64_decode(text);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::invalid_argument);
    }
    char const* const bad_base64url[] = {"Z", "Zm9vY", "Zg=", "Zh", "Zm9v=", "a.b", "Zm9v==", "Zg==Zg", "Zg\n"};
    for (auto const* text : bad_base64url) {
        INFO(text);
        CHECK_FALSE(c::base64url_decode(text).has_value());
    }
}

TEST_CASE("crypto: base64 round-trips every byte value", "[crypto]") {
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all += static_cast<char>(i);
    }
    for (std::size_t n = 0; n <= all.size(); n += 37) {
        auto const part = all.substr(0, n);
        CHECK(c::base64_decode(c::base64_encode(part)).value() == part);
        CHECK(c::base64url_decode(c::base64url_encode(part)).value() == part);
    }
}

TEST_CASE("crypto: PKCE challenge matches the RFC 7636 appendix B example", "[crypto]") {
    CHECK(c::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") ==
          "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST_CASE("crypto: make_pkce gives a fresh 43-character unreserved verifier and its S256 challenge", "[crypto]") {
    auto const is_unreserved = [](char ch) {
        return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
               ch == '.' || ch == '_' || ch == '~';
    };
    std::set<std::string> seen;
    for (int i = 0; i < 16; ++i) {
        auto const p = c::make_pkce();
        CHECK(p.verifier.size() == 43);
        for (char ch : p.verifier) {
            CHECK(is_unreserved(ch));
        }
        CHECK(p.challenge == c::pkce_challenge(p.verifier));
        CHECK(p.challenge.size() == 43);
        seen.insert(p.verifier);
    }
    CHECK(seen.size() == 16);
}

TEST_CASE("crypto: random_bytes gives the requested length and different values", "[crypto]") {
    CHECK(c::random_bytes(0).empty());
    auto const a = c::random_bytes(32);
    auto const b = c::random_bytes(32);
    CHECK(a.size() == 32);
    CHECK(b.size() == 32);
    CHECK(a != b);
    CHECK(c::random_bytes(100000).size() == 100000);
}

TEST_CASE("crypto: seal and open round-trip, with the documented form", "[crypto]") {
    c::Sealer const sealer("correct horse battery staple");
    for (std::string const& plain :
         {std::string(), std::string("x"), std::string("refresh-token-\x01\x00\xff", 17), std::string(5000, 'q')}) {
        auto const sealed = sealer.seal(plain, "user-1");
        REQUIRE(sealed.starts_with("v1."));
        // nonce (12) + ciphertext (same length as the plaintext) + tag (16), base64url without padding.
        auto const raw = c::base64url_decode(sealed.substr(3));
        REQUIRE(raw.has_value());
        CHECK(raw->size() == 12 + plain.size() + 16);
        CHECK(sealed.find('=') == std::string::npos);
        if (plain.size() > 4) {
            CHECK(raw->find(plain) == std::string::npos);  // not stored in the clear
        }
        auto const opened = sealer.open(sealed, "user-1");
        REQUIRE(opened.has_value());
        CHECK(*opened == plain);
    }
    // Another Sealer from the same secret opens it too (the key is derived, not random).
    c::Sealer const again("correct horse battery staple");
    CHECK(again.open(sealer.seal("abc", ""), "").value() == "abc");
}

TEST_CASE("crypto: each seal uses a fresh nonce", "[crypto]") {
    c::Sealer const sealer("secret");
    auto const a = sealer.seal("same", "ctx");
    auto const b = sealer.seal("same", "ctx");
    CHECK(a != b);
    CHECK(c::base64url_decode(a.substr(3)).value().substr(0, 12) !=
          c::base64url_decode(b.substr(3)).value().substr(0, 12));
    CHECK(sealer.open(a, "ctx").value() == "same");
    CHECK(sealer.open(b, "ctx").value() == "same");
}

TEST_CASE("crypto: a wrong key or context does not open", "[crypto]") {
    c::Sealer const sealer("secret one");
    c::Sealer const other("secret two");
    auto const sealed = sealer.seal("token", "user-1");

    auto const wrong_key = other.open(sealed, "user-1");
    REQUIRE_FALSE(wrong_key.has_value());
    CHECK(wrong_key.error().code == ErrorCode::permission_denied);

    auto const wrong_context = sealer.open(sealed, "user-2");
    REQUIRE_FALSE(wrong_context.has_value());
    CHECK(wrong_context.error().code == ErrorCode::permission_denied);

    auto const no_context = sealer.open(sealed, "");
    REQUIRE_FALSE(no_context.has_value());
    CHECK(no_context.error().code == ErrorCode::permission_denied);
}

TEST_CASE("crypto: any flipped bit is detected", "[crypto]") {
    c::Sealer const sealer("secret");
    auto const sealed = sealer.seal("a refresh token", "user-1");
    auto const raw = c::base64url_decode(sealed.substr(3)).value();
    // Every byte of nonce, ciphertext and tag is covered.
    for (std::size_t i = 0; i < raw.size(); ++i) {
        for (int bit : {0, 7}) {
            auto tampered = raw;
            tampered[i] = static_cast<char>(tampered[i] ^ (1 << bit));
            auto const r = sealer.open("v1." + c::base64url_encode(tampered), "user-1");
            INFO("byte " << i << " bit " << bit);
            REQUIRE_FALSE(r.has_value());
            CHECK(r.error().code == ErrorCode::permission_denied);
        }
    }
}

TEST_CASE("crypto: truncated and malformed values are rejected", "[crypto]") {
    c::Sealer const sealer("secret");
    auto const sealed = sealer.seal("a refresh token", "user-1");

    // Dropping bytes from the end (part of the tag) still decodes, but does not authenticate.
    auto const raw = c::base64url_decode(sealed.substr(3)).value();
    auto const shorter = sealer.open("v1." + c::base64url_encode(raw.substr(0, raw.size() - 3)), "user-1");
    REQUIRE_FALSE(shorter.has_value());
    CHECK(shorter.error().code == ErrorCode::permission_denied);

    // Dropping one character leaves an impossible base64url length.
    auto const cut = sealer.open(sealed.substr(0, sealed.size() - 1), "user-1");
    REQUIRE_FALSE(cut.has_value());
    CHECK(cut.error().code == ErrorCode::invalid_argument);

    // Shorter than nonce + tag: not a sealed value at all.
    auto const stub = sealer.open("v1." + c::base64url_encode(std::string(27, 'x')), "user-1");
    REQUIRE_FALSE(stub.has_value());
    CHECK(stub.error().code == ErrorCode::invalid_argument);

    for (std::string const& bad : {std::string(), std::string("v1."), std::string("v2.") + sealed.substr(3),
                                   sealed.substr(3), std::string("plain text"), "v1." + sealed.substr(3) + "!"}) {
        INFO(bad);
        auto const r = sealer.open(bad, "user-1");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::invalid_argument);
    }
}

TEST_CASE("crypto: sizes are bounded", "[crypto]") {
    c::Sealer const sealer("secret");
    CHECK_THROWS_AS(sealer.seal(std::string((1u << 20) + 1, 'x'), "ctx"), std::length_error);
    auto const big = sealer.seal(std::string(1u << 20, 'x'), "ctx");
    CHECK(sealer.open(big, "ctx").value().size() == (1u << 20));
    auto const huge = sealer.open("v1." + std::string(2u << 20, 'A'), "ctx");
    REQUIRE_FALSE(huge.has_value());
    CHECK(huge.error().code == ErrorCode::invalid_argument);
}
