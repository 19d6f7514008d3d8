#include "crypto/crypto.hpp"

#include "common/random.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace msteams::crypto {
namespace {

constexpr std::size_t k_key_size = 32;
constexpr std::size_t k_nonce_size = 12;
constexpr std::size_t k_tag_size = 16;
constexpr std::string_view k_sealed_prefix = "v1.";
// Sealed values are tokens and small secrets; anything larger is a misuse, and refusing it bounds the work an
// attacker-supplied value can cause.
constexpr std::size_t k_max_plaintext = 1u << 20;
constexpr std::size_t k_max_sealed = k_sealed_prefix.size() + (k_nonce_size + k_max_plaintext + k_tag_size) * 4 / 3 + 4;
// EVP update calls take an int length: feed large inputs in pieces well below that.
constexpr std::size_t k_chunk = 1u << 30;

constexpr char k_b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char k_b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* p) const noexcept { EVP_CIPHER_CTX_free(p); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

[[noreturn]] void openssl_failure(char const* what) {
    ERR_clear_error();
    throw std::runtime_error(std::string("OpenSSL failed: ") + what);
}

unsigned char const* bytes(std::string_view s) noexcept { return reinterpret_cast<unsigned char const*>(s.data()); }
unsigned char* bytes(std::string& s) noexcept { return reinterpret_cast<unsigned char*>(s.data()); }

std::string encode(std::string_view data, char const* alphabet, bool pad) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto const in = bytes(data);
    for (; i + 3 <= data.size(); i += 3) {
        std::uint32_t const v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    std::size_t const rest = data.size() - i;
    if (rest == 1) {
        std::uint32_t const v = std::uint32_t{in[i]} << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        if (pad) {
            out += "==";
        }
    } else if (rest == 2) {
        std::uint32_t const v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        if (pad) {
            out += '=';
        }
    }
    return out;
}

enum class Padding { required, optional };

// Strict decoding: only the alphabet's 64 characters, '=' only as the final padding of the last quantum, no white
// space, and the unused bits of the last character must be zero (so every byte string has one encoding).
Result<std::string> decode(std::string_view text, char const* alphabet, Padding padding, char const* name) {
    std::array<int, 256> table{};
    table.fill(-1);
    for (int i = 0; i < 64; ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = i;
    }

    std::size_t pad = 0;
    while (pad < text.size() && pad < 2 && text[text.size() - 1 - pad] == '=') {
        ++pad;
    }
    std::string_view const body = text.substr(0, text.size() - pad);
    if (pad > 0 && text.size() % 4 != 0) {
        return fail(ErrorCode::invalid_argument, std::string(name) + ": padding does not complete a 4-character group");
    }
    if (pad == 0 && padding == Padding::required && text.size() % 4 != 0) {
        return fail(ErrorCode::invalid_argument, std::string(name) + ": missing padding");
    }
    if (body.size() % 4 == 1) {
        return fail(ErrorCode::invalid_argument,
                    std::string(name) + ": truncated (length " + std::to_string(text.size()) + ")");
    }
    if (pad > 0 && (body.size() % 4) + pad != 4) {
        return fail(ErrorCode::invalid_argument, std::string(name) + ": wrong amount of padding");
    }

    std::string out;
    out.reserve(body.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < body.size(); ++i) {
        int const v = table[static_cast<unsigned char>(body[i])];
        if (v < 0) {
            return fail(ErrorCode::invalid_argument,
                        std::string(name) + ": invalid character at offset " + std::to_string(i));
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return fail(ErrorCode::invalid_argument, std::string(name) + ": non-zero trailing bits");
    }
    return out;
}

void sha256_into(std::string_view data, unsigned char (&out)[k_key_size]) {
    MdCtx ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
        openssl_failure("SHA-256 init");
    }
    while (!data.empty()) {
        auto const step = std::min(data.size(), k_chunk);
        if (EVP_DigestUpdate(ctx.get(), data.data(), step) != 1) {
            openssl_failure("SHA-256 update");
        }
        data.remove_prefix(step);
    }
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx.get(), out, &len) != 1 || len != k_key_size) {
        openssl_failure("SHA-256 final");
    }
}

}  // namespace

// --- Sealer ----------------------------------------------------------------------------------------------------------

Sealer::Sealer(std::string_view secret) { sha256_into(secret, key_); }

Sealer::~Sealer() { OPENSSL_cleanse(key_, sizeof key_); }

std::string Sealer::seal(std::string_view plaintext, std::string_view context) const {
    if (plaintext.size() > k_max_plaintext || context.size() > k_max_plaintext) {
        throw std::length_error("crypto: value to seal is larger than 1 MiB");
    }
    // nonce || ciphertext || tag
    std::string raw(k_nonce_size + plaintext.size() + k_tag_size, '\0');
    auto* const nonce = bytes(raw);
    auto* const ciphertext = nonce + k_nonce_size;
    random::fill(nonce, k_nonce_size);

    CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_, nonce) != 1) {
        openssl_failure("AES-GCM encrypt init");
    }
    int len = 0;
    if (!context.empty() &&
        EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(context), static_cast<int>(context.size())) != 1) {
        openssl_failure("AES-GCM AAD");
    }
    int written = 0;
    if (!plaintext.empty()) {
        if (EVP_EncryptUpdate(ctx.get(), ciphertext, &len, bytes(plaintext), static_cast<int>(plaintext.size())) != 1) {
            openssl_failure("AES-GCM encrypt");
        }
        written = len;
    }
    if (EVP_EncryptFinal_ex(ctx.get(), ciphertext + written, &len) != 1) {
        openssl_failure("AES-GCM encrypt final");
    }
    written += len;
    if (static_cast<std::size_t>(written) != plaintext.size()) {
        openssl_failure("AES-GCM produced an unexpected length");
    }
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(k_tag_size),
                            ciphertext + plaintext.size()) != 1) {
        openssl_failure("AES-GCM tag");
    }
    return std::string(k_sealed_prefix) + base64url_encode(raw);
}

namespace {

// AES-GCM decryption of nonce ‖ ciphertext ‖ tag (sizes checked by the caller) with `context` as AAD; `refusal` is
// the error when the tag does not match (a wrong key, a wrong context or a modified value).
Result<std::string> gcm_open(EVP_CIPHER const* cipher, unsigned char const* key, std::string raw,
                             std::string_view context, char const* refusal) {
    auto const* const nonce = bytes(raw);
    auto const* const ciphertext = nonce + k_nonce_size;
    std::size_t const ciphertext_size = raw.size() - k_nonce_size - k_tag_size;
    // The tag is an input to the decryptor, but EVP_CIPHER_CTX_ctrl takes a non-const pointer.
    auto* const tag = bytes(raw) + k_nonce_size + ciphertext_size;

    CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, key, nonce) != 1) {
        openssl_failure("AES-GCM decrypt init");
    }
    int len = 0;
    if (!context.empty() &&
        EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(context), static_cast<int>(context.size())) != 1) {
        openssl_failure("AES-GCM AAD");
    }
    std::string plaintext(ciphertext_size, '\0');
    int written = 0;
    if (ciphertext_size > 0) {
        if (EVP_DecryptUpdate(ctx.get(), bytes(plaintext), &len, ciphertext, static_cast<int>(ciphertext_size)) != 1) {
            openssl_failure("AES-GCM decrypt");
        }
        written = len;
    }
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(k_tag_size), tag) != 1) {
        openssl_failure("AES-GCM set tag");
    }
    // Final checks the tag.
    if (EVP_DecryptFinal_ex(ctx.get(), bytes(plaintext) + written, &len) != 1) {
        ERR_clear_error();
        OPENSSL_cleanse(plaintext.data(), plaintext.size());
        return fail(ErrorCode::permission_denied, refusal);
    }
    return plaintext;
}

}  // namespace

Result<std::string> Sealer::open(std::string_view sealed, std::string_view context) const {
    if (!sealed.starts_with(k_sealed_prefix)) {
        return fail(ErrorCode::invalid_argument, "not a sealed value (no v1. prefix)");
    }
    if (sealed.size() > k_max_sealed) {
        return fail(ErrorCode::invalid_argument, "sealed value is larger than the 1 MiB limit");
    }
    auto raw = base64url_decode(sealed.substr(k_sealed_prefix.size()));
    if (!raw) {
        return fail(ErrorCode::invalid_argument, "not a sealed value: " + raw.error().message);
    }
    if (raw->size() < k_nonce_size + k_tag_size) {
        return fail(ErrorCode::invalid_argument, "not a sealed value: too short");
    }
    if (context.size() > k_max_plaintext) {
        return fail(ErrorCode::invalid_argument, "sealing context is larger than 1 MiB");
    }
    return gcm_open(EVP_aes_256_gcm(), key_, std::move(*raw), context,
                    "sealed value does not open: wrong key or context, or the value was modified");
}

Result<std::string> aes_gcm_open(std::string_view raw_key, std::string_view nonce_ciphertext_tag) {
    EVP_CIPHER const* cipher = nullptr;
    switch (raw_key.size()) {
        case 16: cipher = EVP_aes_128_gcm(); break;
        case 24: cipher = EVP_aes_192_gcm(); break;
        case 32: cipher = EVP_aes_256_gcm(); break;
        default:
            return fail(ErrorCode::invalid_argument,
                        "an AES key has 16, 24 or 32 bytes, not " + std::to_string(raw_key.size()));
    }
    if (nonce_ciphertext_tag.size() < k_nonce_size + k_tag_size) {
        return fail(ErrorCode::invalid_argument, "too short for AES-GCM output");
    }
    if (nonce_ciphertext_tag.size() > k_nonce_size + k_max_plaintext + k_tag_size) {
        return fail(ErrorCode::invalid_argument, "larger than the 1 MiB limit");
    }
    return gcm_open(cipher, bytes(raw_key), std::string(nonce_ciphertext_tag), {},
                    "does not open: wrong key, or the value was modified");
}

// --- PKCE ------------------------------------------------------------------------------------------------------------

Pkce make_pkce() {
    // 32 random bytes encode to exactly 43 base64url characters, all in the unreserved set (RFC 7636 §4.1).
    std::string const entropy = random_bytes(32);
    Pkce p;
    p.verifier = base64url_encode(entropy);
    p.challenge = pkce_challenge(p.verifier);
    return p;
}

std::string pkce_challenge(std::string_view verifier) { return base64url_encode(sha256(verifier)); }

// --- primitives ------------------------------------------------------------------------------------------------------

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    random::fill(bytes(out), n);
    return out;
}

std::string sha256(std::string_view data) {
    unsigned char digest[k_key_size];
    sha256_into(data, digest);
    return std::string(reinterpret_cast<char const*>(digest), sizeof digest);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    static constexpr unsigned char k_empty[1] = {0};
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    // EVP_Q_mac wants a non-null key even when it is empty (an empty HMAC key is valid).
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.empty() ? k_empty : bytes(key), key.size(),
                  data.empty() ? k_empty : bytes(data), data.size(), mac, sizeof mac, &len) == nullptr ||
        len != k_key_size) {
        openssl_failure("HMAC-SHA256");
    }
    return std::string(reinterpret_cast<char const*>(mac), len);
}

std::string base64url_encode(std::string_view data) { return encode(data, k_b64url_alphabet, false); }

Result<std::string> base64url_decode(std::string_view text) {
    return decode(text, k_b64url_alphabet, Padding::optional, "base64url");
}

std::string base64_encode(std::string_view data) { return encode(data, k_b64_alphabet, true); }

Result<std::string> base64_decode(std::string_view text) {
    return decode(text, k_b64_alphabet, Padding::required, "base64");
}

}  // namespace msteams::crypto
