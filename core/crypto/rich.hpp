#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

// What rich change notifications need (shared/docs/microsoft-graph.md §4): the bridge's encryption certificates,
// decrypting an item's encryptedContent, and checking the RS256 JWTs Graph sends as validationTokens.
namespace msteams::crypto {

// A fresh RSA-2048 key pair and a self-signed X.509 certificate for it (Graph checks no issuer).
struct EncryptionCertificate {
    std::string certificate_der;  // the public part, DER; base64 of it goes into encryptionCertificate
    std::string private_key_pem;  // PKCS#8 PEM; the caller seals it before storing
    std::string thumbprint;       // uppercase hex SHA-1 of the DER, as Graph echoes it
};
// `not_before` and `not_after` are Unix seconds; `common_name` ≤ 64 characters.
[[nodiscard]] EncryptionCertificate make_encryption_certificate(std::string_view common_name, std::int64_t not_before,
                                                                std::int64_t not_after);

// Why an encryptedContent was refused (each is counted by the caller).
enum class RichRefusal {
    malformed,  // not base64, sizes out of bounds, key not PEM
    key,        // dataKey does not unwrap with this private key (RSA-OAEP, SHA-1, MGF1-SHA-1, empty label)
    signature,  // HMAC-SHA256(symmetric key, decoded data) ≠ dataSignature (compared in constant time)
    data,       // AES-256-CBC (IV = the key's first 16 bytes) or its PKCS#7 padding failed
};
[[nodiscard]] std::string_view to_string(RichRefusal r) noexcept;

struct RichPlaintext {
    bool ok = false;
    RichRefusal refusal = RichRefusal::malformed;
    std::string plaintext;  // the resource's JSON when ok
};

// The limit on `data` (base64): a Teams message is at most ~28 KB of HTML; 4 MiB leaves room for any resource.
inline constexpr std::size_t k_max_rich_data = 4u << 20;

// An RSA private key parsed once (parsing a PEM costs twice the RSA decryption itself: keep one per certificate).
// Safe to use from several threads at once.
class RsaPrivateKey {
public:
    RsaPrivateKey();
    ~RsaPrivateKey();
    RsaPrivateKey(RsaPrivateKey&&) noexcept;
    RsaPrivateKey& operator=(RsaPrivateKey&&) noexcept;
    RsaPrivateKey(RsaPrivateKey const&) = delete;
    RsaPrivateKey& operator=(RsaPrivateKey const&) = delete;

    // invalid_argument when the PEM is not an RSA private key (or is encrypted, or over 64 KiB).
    [[nodiscard]] static Result<RsaPrivateKey> parse(std::string_view pem);

    struct Impl;

private:
    Impl* impl_ = nullptr;
    friend RichPlaintext decrypt_rich_content(RsaPrivateKey const&, std::string_view, std::string_view,
                                              std::string_view);
};

// Decrypts one item exactly as Graph specifies, checking the signature before decrypting anything. The inputs are
// the base64 fields as they arrived. Never throws on bad input.
[[nodiscard]] RichPlaintext decrypt_rich_content(RsaPrivateKey const& key, std::string_view data_b64,
                                                 std::string_view data_key_b64, std::string_view data_signature_b64);
// The same with the key as PEM, parsed for this item alone (a malformed PEM: `malformed`).
[[nodiscard]] RichPlaintext decrypt_rich_content(std::string_view private_key_pem, std::string_view data_b64,
                                                 std::string_view data_key_b64, std::string_view data_signature_b64);

// The counterpart, for tests and the benchmark's tooling: encrypts `plaintext` for `certificate_der` as Graph does
// (fresh 32-byte key, IV = key[0:16], AES-256-CBC-PKCS7, HMAC-SHA256 of the ciphertext, RSA-OAEP-SHA1 key wrap).
struct RichCiphertext {
    std::string data_b64;
    std::string data_key_b64;
    std::string data_signature_b64;
};
[[nodiscard]] RichCiphertext encrypt_rich_content(std::string_view certificate_der, std::string_view plaintext);

// A JSON Web Key Set of RSA signing keys (kty RSA; n, e base64url). Keys of other types are skipped.
class Jwks {
public:
    Jwks();
    ~Jwks();
    Jwks(Jwks&&) noexcept;
    Jwks& operator=(Jwks&&) noexcept;
    Jwks(Jwks const&) = delete;
    Jwks& operator=(Jwks const&) = delete;

    // At most 64 KiB of JSON, 32 keys, moduli of 2048–8192 bits; invalid_argument otherwise.
    [[nodiscard]] static Result<Jwks> parse(std::string_view json);
    [[nodiscard]] bool has(std::string_view kid) const;
    [[nodiscard]] std::size_t size() const noexcept;

    struct Impl;

private:
    Impl* impl_ = nullptr;
    friend Result<std::string> verify_rs256_jwt(std::string_view, Jwks const&);
};

// Checks a compact JWT's RS256 signature with the key its header names (`kid`; alg must be RS256, nothing else is
// accepted) and returns its payload's JSON text. Claims are the caller's to check. At most 16 KiB of token.
// not_found when the key set has no such kid (the caller may fetch the set again); permission_denied when the
// signature is wrong; invalid_argument when the token is malformed.
[[nodiscard]] Result<std::string> verify_rs256_jwt(std::string_view jwt, Jwks const& keys);

// For tests: a compact RS256 JWT of `payload_json` signed with `private_key_pem`, header {"alg":"RS256","kid":kid}.
[[nodiscard]] std::string sign_rs256_jwt(std::string_view payload_json, std::string_view private_key_pem,
                                         std::string_view kid);
// For tests: the JWK (JSON object text) of the public key of `private_key_pem`, with `kid`.
[[nodiscard]] std::string public_jwk(std::string_view private_key_pem, std::string_view kid);

}  // namespace msteams::crypto
