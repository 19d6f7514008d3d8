#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.hpp"

// Cryptography the bridge needs, on OpenSSL. All byte strings are std::string.
namespace msteams::crypto {

// Authenticated encryption at rest: AES-256-GCM, a fresh random 96-bit nonce per seal, 128-bit tag. The key is
// SHA-256 of the secret setting (encryptionKey). Sealed form: "v1." + base64url(nonce || ciphertext || tag).
// `context` is authenticated but not stored (e.g. the owning user id), so a sealed value moved to another row does
// not open.
class Sealer {
public:
    explicit Sealer(std::string_view secret);
    ~Sealer();
    Sealer(Sealer const&) = delete;
    Sealer& operator=(Sealer const&) = delete;

    [[nodiscard]] std::string seal(std::string_view plaintext, std::string_view context) const;
    // ErrorCode::permission_denied when the key or context is wrong or the value was tampered with;
    // invalid_argument when it is not a sealed value at all.
    [[nodiscard]] Result<std::string> open(std::string_view sealed, std::string_view context) const;

private:
    unsigned char key_[32];
};

// Opens AES-GCM output laid out as nonce (12 bytes) || ciphertext || tag (16 bytes), without associated data, with a
// raw key of 16, 24 or 32 bytes (AES-128, -192 or -256). For values other software sealed (the official plugin's
// tokens, docs/upgrade.md); the bridge's own values use Sealer. invalid_argument for a key of another length or an
// input too short; permission_denied when the tag does not match (a wrong key, or a modified value).
[[nodiscard]] Result<std::string> aes_gcm_open(std::string_view raw_key, std::string_view nonce_ciphertext_tag);

// RFC 7636 PKCE with S256.
struct Pkce {
    std::string verifier;   // 43 characters of [A-Za-z0-9-._~]
    std::string challenge;  // base64url(SHA-256(verifier)), no padding
};
[[nodiscard]] Pkce make_pkce();
[[nodiscard]] std::string pkce_challenge(std::string_view verifier);

[[nodiscard]] std::string random_bytes(std::size_t n);
[[nodiscard]] std::string sha256(std::string_view data);
[[nodiscard]] std::string hmac_sha256(std::string_view key, std::string_view data);

[[nodiscard]] std::string base64url_encode(std::string_view data);          // no padding
[[nodiscard]] Result<std::string> base64url_decode(std::string_view text);  // padding optional
[[nodiscard]] std::string base64_encode(std::string_view data);
[[nodiscard]] Result<std::string> base64_decode(std::string_view text);

}  // namespace msteams::crypto
