#include <catch2/catch.hpp>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "crypto/crypto.hpp"
#include "crypto/rich.hpp"

namespace c = msteams::crypto;
using msteams::ErrorCode;
using nlohmann::json;

namespace {

constexpr std::int64_t k_not_before = 1'700'000'000;  // 2023-11-14
constexpr std::int64_t k_not_after = 1'700'000'000 + 2 * 86400;

struct X509Free {
    void operator()(X509* p) const noexcept { X509_free(p); }
};
using Cert = std::unique_ptr<X509, X509Free>;
struct PkeyFree {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* p) const noexcept { EVP_CIPHER_CTX_free(p); }
};

// Key generation takes a while: two certificates serve every test.
c::EncryptionCertificate const& cert_a() {
    static auto const cert = c::make_encryption_certificate("msteams-bridge-test", k_not_before, k_not_after);
    return cert;
}
c::EncryptionCertificate const& cert_b() {
    static auto const cert = c::make_encryption_certificate("another-bridge", k_not_before, k_not_after);
    return cert;
}

Cert parse_der(std::string const& der) {
    auto const* p = reinterpret_cast<unsigned char const*>(der.data());
    return Cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

Pkey parse_private_pem(std::string const& pem) {
    std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    return Pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string upper_hex(std::string_view bytes) {
    static constexpr char k_digits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char b : bytes) {
        out += k_digits[b >> 4];
        out += k_digits[b & 15];
    }
    return out;
}

std::string common_name(X509* cert, bool issuer) {
    X509_NAME* const name = issuer ? X509_get_issuer_name(cert) : X509_get_subject_name(cert);
    int const i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    REQUIRE(i >= 0);
    ASN1_STRING const* const data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    return std::string(reinterpret_cast<char const*>(ASN1_STRING_get0_data(data)),
                       static_cast<std::size_t>(ASN1_STRING_length(data)));
}

// Flips one bit of the byte at `index` of a base64 value, keeping it valid base64.
std::string flip_decoded(std::string const& b64, std::size_t index) {
    std::string raw = c::base64_decode(b64).value();
    raw.at(index) = static_cast<char>(raw.at(index) ^ 0x01);
    return c::base64_encode(raw);
}

// The steps of shared/docs/microsoft-graph.md §4 done here directly with OpenSSL, independently of rich.cpp's
// encryptor, so the test can choose the key and the ciphertext.
std::string wrap_key(std::string const& certificate_der, std::string const& key) {
    Cert const cert = parse_der(certificate_der);
    REQUIRE(cert);
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> const ctx(
        EVP_PKEY_CTX_new_from_pkey(nullptr, X509_get0_pubkey(cert.get()), nullptr));
    REQUIRE(EVP_PKEY_encrypt_init(ctx.get()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha1()) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha1()) == 1);
    std::string out(512, '\0');
    std::size_t len = out.size();
    REQUIRE(EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                             reinterpret_cast<unsigned char const*>(key.data()), key.size()) == 1);
    out.resize(len);
    return out;
}

// AES-256-CBC, IV = key[0:16]; `pad` false leaves the input's last block as it is (so its padding is whatever the
// bytes say).
std::string aes_cbc_encrypt(std::string const& key, std::string const& plaintext, bool pad) {
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> const ctx(EVP_CIPHER_CTX_new());
    auto const* const k = reinterpret_cast<unsigned char const*>(key.data());
    REQUIRE(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, k, k) == 1);
    REQUIRE(EVP_CIPHER_CTX_set_padding(ctx.get(), pad ? 1 : 0) == 1);
    std::string out(plaintext.size() + 16, '\0');
    int len = 0;
    REQUIRE(EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len,
                              reinterpret_cast<unsigned char const*>(plaintext.data()),
                              static_cast<int>(plaintext.size())) == 1);
    int fin = 0;
    REQUIRE(EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &fin) == 1);
    out.resize(static_cast<std::size_t>(len + fin));
    return out;
}

c::RichPlaintext decrypt_a(c::RichCiphertext const& ct) {
    return c::decrypt_rich_content(cert_a().private_key_pem, ct.data_b64, ct.data_key_b64, ct.data_signature_b64);
}

void check_refused(c::RichPlaintext const& r, c::RichRefusal why) {
    CHECK_FALSE(r.ok);
    CHECK(c::to_string(r.refusal) == c::to_string(why));
    CHECK(r.plaintext.empty());
}

std::string jwks_of(std::initializer_list<std::string> jwks) {
    std::string out = R"({"keys":[)";
    bool first = true;
    for (auto const& k : jwks) {
        out += (first ? "" : ",") + k;
        first = false;
    }
    return out + "]}";
}

std::string const k_claims = R"({"aud":"app","iss":"https://sts.windows.net/t/","tid":"t"})";

// A token with a header of the test's choosing and the signature part given.
std::string token(json const& header, std::string_view payload, std::string_view signature) {
    return c::base64url_encode(header.dump()) + "." + c::base64url_encode(payload) + "." + std::string(signature);
}

}  // namespace

TEST_CASE("crypto rich: the certificate is a self-signed X.509 v3 with the name, validity and key asked for",
          "[crypto]") {
    auto const& made = cert_a();
    Cert const cert = parse_der(made.certificate_der);
    REQUIRE(cert);
    CHECK(X509_get_version(cert.get()) == X509_VERSION_3);
    CHECK(common_name(cert.get(), false) == "msteams-bridge-test");
    CHECK(common_name(cert.get(), true) == "msteams-bridge-test");
    CHECK(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert.get()), static_cast<std::time_t>(k_not_before)) == 0);
    CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(cert.get()), static_cast<std::time_t>(k_not_after)) == 0);
    CHECK(X509_get_signature_nid(cert.get()) == NID_sha256WithRSAEncryption);

    EVP_PKEY* const pub = X509_get0_pubkey(cert.get());
    REQUIRE(pub != nullptr);
    CHECK(EVP_PKEY_is_a(pub, "RSA") == 1);
    CHECK(EVP_PKEY_get_bits(pub) == 2048);
    CHECK(X509_verify(cert.get(), pub) == 1);                                  // self-signed
    CHECK(made.private_key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));  // PKCS#8, unencrypted
    Pkey const priv = parse_private_pem(made.private_key_pem);
    REQUIRE(priv);
    CHECK(EVP_PKEY_eq(pub, priv.get()) == 1);

    unsigned char sha1[20];
    REQUIRE(EVP_Digest(made.certificate_der.data(), made.certificate_der.size(), sha1, nullptr, EVP_sha1(), nullptr) ==
            1);
    CHECK(made.thumbprint == upper_hex(std::string_view(reinterpret_cast<char const*>(sha1), sizeof sha1)));
    CHECK(made.thumbprint.size() == 40);

    // Serials are random: two certificates differ.
    Cert const other = parse_der(cert_b().certificate_der);
    REQUIRE(other);
    CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(cert.get()), X509_get0_serialNumber(other.get())) != 0);
    CHECK(cert_b().thumbprint != made.thumbprint);
}

TEST_CASE("crypto rich: a certificate with a bad name or validity is not made", "[crypto]") {
    CHECK_THROWS_AS(c::make_encryption_certificate("", k_not_before, k_not_after), std::invalid_argument);
    CHECK_THROWS_AS(c::make_encryption_certificate(std::string(65, 'x'), k_not_before, k_not_after),
                    std::invalid_argument);
    CHECK_THROWS_AS(c::make_encryption_certificate("x", k_not_after, k_not_before), std::invalid_argument);
}

TEST_CASE("crypto rich: encrypt then decrypt gives the plaintext back", "[crypto]") {
    std::string plaintext;
    SECTION("a chat message") {
        plaintext = R"({"id":"1612289765949","body":{"contentType":"html","content":"<p>héllo</p>"}})";
    }
    SECTION("empty") { plaintext = ""; }
    SECTION("100 KB") { plaintext = c::random_bytes(100 * 1000); }
    auto const ct = c::encrypt_rich_content(cert_a().certificate_der, plaintext);
    CHECK(c::base64_decode(ct.data_key_b64).value().size() == 256);  // RSA-2048
    CHECK(c::base64_decode(ct.data_signature_b64).value().size() == 32);
    CHECK(c::base64_decode(ct.data_b64).value().size() == (plaintext.size() / 16 + 1) * 16);
    auto const r = decrypt_a(ct);
    REQUIRE(r.ok);
    CHECK(r.plaintext == plaintext);

    // A fresh key every time: the same plaintext never encrypts the same way twice.
    auto const again = c::encrypt_rich_content(cert_a().certificate_der, plaintext);
    CHECK(again.data_key_b64 != ct.data_key_b64);
    CHECK(again.data_signature_b64 != ct.data_signature_b64);
}

TEST_CASE("crypto rich: content built step by step as the docs describe decrypts", "[crypto]") {
    std::string const key = c::random_bytes(32);
    std::string const plaintext = R"({"id":"1","messageType":"message"})";
    std::string const data = aes_cbc_encrypt(key, plaintext, true);
    auto const r = c::decrypt_rich_content(cert_a().private_key_pem, c::base64_encode(data),
                                           c::base64_encode(wrap_key(cert_a().certificate_der, key)),
                                           c::base64_encode(c::hmac_sha256(key, data)));
    REQUIRE(r.ok);
    CHECK(r.plaintext == plaintext);
}

TEST_CASE("crypto rich: each tampering is refused with its reason and nothing decrypted", "[crypto]") {
    auto ct = c::encrypt_rich_content(cert_a().certificate_der, R"({"secret":"do not show"})");
    c::RichRefusal expected = c::RichRefusal::malformed;
    SECTION("a flipped byte in data") {
        ct.data_b64 = flip_decoded(ct.data_b64, 3);
        expected = c::RichRefusal::signature;
    }
    SECTION("a flipped byte in the last block of data, where the padding is") {
        ct.data_b64 = flip_decoded(ct.data_b64, c::base64_decode(ct.data_b64).value().size() - 1);
        expected = c::RichRefusal::signature;
    }
    SECTION("a flipped byte in dataKey") {
        ct.data_key_b64 = flip_decoded(ct.data_key_b64, 100);
        expected = c::RichRefusal::key;
    }
    SECTION("a flipped byte in dataSignature") {
        ct.data_signature_b64 = flip_decoded(ct.data_signature_b64, 31);
        expected = c::RichRefusal::signature;
    }
    SECTION("a key wrapped for another certificate") {
        ct.data_key_b64 = c::encrypt_rich_content(cert_b().certificate_der, "x").data_key_b64;
        expected = c::RichRefusal::key;
    }
    SECTION("data and signature of another item") {
        auto const other = c::encrypt_rich_content(cert_a().certificate_der, R"({"other":1})");
        ct.data_b64 = other.data_b64;
        ct.data_signature_b64 = other.data_signature_b64;
        expected = c::RichRefusal::signature;
    }
    check_refused(decrypt_a(ct), expected);

    // Decrypting with the other certificate's private key fails at the key as well.
    auto const fresh = c::encrypt_rich_content(cert_a().certificate_der, "{}");
    check_refused(
        c::decrypt_rich_content(cert_b().private_key_pem, fresh.data_b64, fresh.data_key_b64, fresh.data_signature_b64),
        c::RichRefusal::key);
}

TEST_CASE("crypto rich: the signature is checked before anything is decrypted", "[crypto]") {
    std::string const key = c::random_bytes(32);
    std::string const wrapped = c::base64_encode(wrap_key(cert_a().certificate_der, key));
    // Two blocks whose last byte is 0x00, which is never valid PKCS#7 padding.
    std::string const bad_padding = aes_cbc_encrypt(key, std::string(32, '\0'), false);
    std::string const good = aes_cbc_encrypt(key, "{}", true);

    // With its HMAC right, the data reaches AES and fails on its padding...
    check_refused(c::decrypt_rich_content(cert_a().private_key_pem, c::base64_encode(bad_padding), wrapped,
                                          c::base64_encode(c::hmac_sha256(key, bad_padding))),
                  c::RichRefusal::data);
    // ...with the HMAC of other data it is refused on the signature, and AES never runs.
    check_refused(c::decrypt_rich_content(cert_a().private_key_pem, c::base64_encode(bad_padding), wrapped,
                                          c::base64_encode(c::hmac_sha256(key, good))),
                  c::RichRefusal::signature);
    // The HMAC covers the decoded bytes, not the base64 text.
    check_refused(c::decrypt_rich_content(cert_a().private_key_pem, c::base64_encode(good), wrapped,
                                          c::base64_encode(c::hmac_sha256(key, c::base64_encode(good)))),
                  c::RichRefusal::signature);
}

TEST_CASE("crypto rich: a dataKey that unwraps to other than 32 bytes is refused as key", "[crypto]") {
    std::string const key = c::random_bytes(16);  // AES-128 is not what Graph sends
    std::string const data = aes_cbc_encrypt(c::random_bytes(32), "{}", true);
    check_refused(c::decrypt_rich_content(cert_a().private_key_pem, c::base64_encode(data),
                                          c::base64_encode(wrap_key(cert_a().certificate_der, key)),
                                          c::base64_encode(c::hmac_sha256(key, data))),
                  c::RichRefusal::key);
}

TEST_CASE("crypto rich: malformed or oversized input is refused as malformed", "[crypto]") {
    auto ct = c::encrypt_rich_content(cert_a().certificate_der, "{}");
    std::string pem = cert_a().private_key_pem;
    SECTION("data not base64") { ct.data_b64 = "not base64!"; }
    SECTION("data in the base64url alphabet") { ct.data_b64 = std::string(21, '_') + "w=="; }  // 16 bytes of 0xFF
    SECTION("dataKey not base64") { ct.data_key_b64 = "@@@@"; }
    SECTION("dataSignature not base64") { ct.data_signature_b64 = ct.data_signature_b64.substr(1); }
    SECTION("dataSignature of 31 bytes") {
        ct.data_signature_b64 = c::base64_encode(c::base64_decode(ct.data_signature_b64).value().substr(1));
    }
    SECTION("dataSignature of 33 bytes") {
        ct.data_signature_b64 = c::base64_encode(c::base64_decode(ct.data_signature_b64).value() + "x");
    }
    SECTION("empty data") { ct.data_b64 = ""; }
    SECTION("data not whole AES blocks") { ct.data_b64 = c::base64_encode(c::random_bytes(17)); }
    SECTION("data over the limit") { ct.data_b64 = std::string(c::k_max_rich_data + 4, 'A'); }
    SECTION("dataKey over 1 KiB of base64") { ct.data_key_b64 = std::string(1028, 'A'); }
    SECTION("a private key that is not PEM") {
        pem = "-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n";
    }
    SECTION("a certificate instead of a private key") {
        pem = "-----BEGIN CERTIFICATE-----\n" + c::base64_encode(cert_a().certificate_der) +
              "\n-----END CERTIFICATE-----\n";
    }
    SECTION("an empty private key") { pem = ""; }
    auto const r = c::decrypt_rich_content(pem, ct.data_b64, ct.data_key_b64, ct.data_signature_b64);
    check_refused(r, c::RichRefusal::malformed);
}

TEST_CASE("crypto rich: an RS256 JWT signed with a key of the set verifies and yields its payload", "[crypto]") {
    auto keys = c::Jwks::parse(
        jwks_of({c::public_jwk(cert_b().private_key_pem, "other"), c::public_jwk(cert_a().private_key_pem, "kid-a")}));
    REQUIRE(keys.has_value());
    CHECK(keys->size() == 2);
    CHECK(keys->has("kid-a"));
    CHECK_FALSE(keys->has("kid-c"));

    std::string const jwt = c::sign_rs256_jwt(k_claims, cert_a().private_key_pem, "kid-a");
    auto const header = json::parse(c::base64url_decode(jwt.substr(0, jwt.find('.'))).value());
    CHECK(header == json{{"alg", "RS256"}, {"kid", "kid-a"}});
    auto const payload = c::verify_rs256_jwt(jwt, *keys);
    REQUIRE(payload.has_value());
    CHECK(*payload == k_claims);

    // The set moves with its keys.
    c::Jwks moved = std::move(*keys);
    CHECK(moved.size() == 2);
    CHECK(c::verify_rs256_jwt(jwt, moved).has_value());
}

TEST_CASE("crypto rich: a JWT signed with another key under the same kid is permission_denied", "[crypto]") {
    auto const keys = c::Jwks::parse(jwks_of({c::public_jwk(cert_a().private_key_pem, "k1")}));
    REQUIRE(keys.has_value());
    auto const r = c::verify_rs256_jwt(c::sign_rs256_jwt(k_claims, cert_b().private_key_pem, "k1"), *keys);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::permission_denied);
}

TEST_CASE("crypto rich: a JWT naming a kid the set does not have is not_found", "[crypto]") {
    auto const keys = c::Jwks::parse(jwks_of({c::public_jwk(cert_a().private_key_pem, "k1")}));
    REQUIRE(keys.has_value());
    auto const r = c::verify_rs256_jwt(c::sign_rs256_jwt(k_claims, cert_a().private_key_pem, "k2"), *keys);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::not_found);
    // An empty set has no kid either.
    auto const none = c::verify_rs256_jwt(c::sign_rs256_jwt(k_claims, cert_a().private_key_pem, "k1"), c::Jwks{});
    REQUIRE_FALSE(none.has_value());
    CHECK(none.error().code == ErrorCode::not_found);
}

TEST_CASE("crypto rich: a JWT with alg none, HS256 or a critical extension is refused", "[crypto]") {
    auto const keys = c::Jwks::parse(jwks_of({c::public_jwk(cert_a().private_key_pem, "k1")}));
    REQUIRE(keys.has_value());
    std::string const good = c::sign_rs256_jwt(k_claims, cert_a().private_key_pem, "k1");
    std::string const rs256_signature = good.substr(good.rfind('.') + 1);
    std::string jwt;
    SECTION("none") { jwt = token({{"alg", "none"}, {"kid", "k1"}}, k_claims, ""); }
    SECTION("none with a signature") { jwt = token({{"alg", "none"}, {"kid", "k1"}}, k_claims, rs256_signature); }
    SECTION("HS256 keyed with the public key") {
        std::string const signed_part =
            c::base64url_encode(json{{"alg", "HS256"}, {"kid", "k1"}}.dump()) + "." + c::base64url_encode(k_claims);
        jwt = signed_part + "." +
              c::base64url_encode(c::hmac_sha256(c::public_jwk(cert_a().private_key_pem, "k1"), signed_part));
    }
    SECTION("rs256 in lower case") { jwt = token({{"alg", "rs256"}, {"kid", "k1"}}, k_claims, rs256_signature); }
    SECTION("no alg") { jwt = token(json::object({{"kid", "k1"}}), k_claims, rs256_signature); }
    SECTION("a critical extension") {
        jwt = token({{"alg", "RS256"}, {"kid", "k1"}, {"crit", {"exp"}}}, k_claims, rs256_signature);
    }
    auto const r = c::verify_rs256_jwt(jwt, *keys);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::permission_denied);
}

TEST_CASE("crypto rich: a JWT with a tampered payload, header or signature is refused", "[crypto]") {
    auto const keys = c::Jwks::parse(jwks_of({c::public_jwk(cert_a().private_key_pem, "k1")}));
    REQUIRE(keys.has_value());
    std::string const jwt = c::sign_rs256_jwt(k_claims, cert_a().private_key_pem, "k1");
    auto const dot1 = jwt.find('.');
    auto const dot2 = jwt.rfind('.');
    std::string tampered;
    SECTION("payload") {
        tampered =
            jwt.substr(0, dot1 + 1) + c::base64url_encode(R"({"aud":"app","iss":"evil","tid":"t"})") + jwt.substr(dot2);
    }
    SECTION("header") { tampered = c::base64url_encode(R"({"kid":"k1","alg":"RS256"})") + jwt.substr(dot1); }
    SECTION("signature") {
        std::string sig = c::base64url_decode(jwt.substr(dot2 + 1)).value();
        sig[10] = static_cast<char>(sig[10] ^ 0x20);
        tampered = jwt.substr(0, dot2 + 1) + c::base64url_encode(sig);
    }
    SECTION("signature truncated") {
        tampered = jwt.substr(0, dot2 + 1) +
                   c::base64url_encode(c::base64url_decode(jwt.substr(dot2 + 1)).value().substr(0, 255));
    }
    auto const r = c::verify_rs256_jwt(tampered, *keys);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::permission_denied);
}

TEST_CASE("crypto rich: malformed JWTs are invalid_argument", "[crypto]") {
    auto const keys = c::Jwks::parse(jwks_of({c::public_jwk(cert_a().private_key_pem, "k1")}));
    REQUIRE(keys.has_value());
    std::string const jwt = c::sign_rs256_jwt(k_claims, cert_a().private_key_pem, "k1");
    std::string bad;
    SECTION("two parts") { bad = jwt.substr(0, jwt.rfind('.')); }
    SECTION("four parts") { bad = jwt + ".x"; }
    SECTION("empty") { bad = ""; }
    SECTION("header not base64url") { bad = "!!" + jwt.substr(jwt.find('.')); }
    SECTION("header not JSON") { bad = c::base64url_encode("alg=RS256") + jwt.substr(jwt.find('.')); }
    SECTION("no kid") { bad = token(json::object({{"alg", "RS256"}}), k_claims, "AAAA"); }
    SECTION("signature not base64url") { bad = jwt + "+"; }
    SECTION("over 16 KiB") {
        bad = c::sign_rs256_jwt(R"({"pad":")" + std::string(13000, 'x') + "\"}", cert_a().private_key_pem, "k1");
    }
    SECTION("a signed payload that is not a JSON object") {
        bad = c::sign_rs256_jwt("[1,2,3]", cert_a().private_key_pem, "k1");
    }
    auto const r = c::verify_rs256_jwt(bad, *keys);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::invalid_argument);
}

TEST_CASE("crypto rich: a JWKS over its limits or with a bad RSA key is refused", "[crypto]") {
    json const good = json::parse(c::public_jwk(cert_a().private_key_pem, "k1"));
    auto with = [&](char const* field, std::string const& value) {
        json k = good;
        k[field] = value;
        return jwks_of({k.dump()});
    };
    auto odd_modulus = [](std::size_t bytes) {
        std::string n = c::random_bytes(bytes);
        n.front() = static_cast<char>(0x80 | n.front());
        n.back() = static_cast<char>(0x01 | n.back());
        return c::base64url_encode(n);
    };
    std::string text;
    SECTION("33 keys") {
        std::string list;
        for (int i = 0; i < 33; ++i) {
            list += (i == 0 ? "" : ",") + c::public_jwk(cert_a().private_key_pem, "k" + std::to_string(i));
        }
        text = R"({"keys":[)" + list + "]}";
    }
    SECTION("over 64 KiB") { text = R"({"pad":")" + std::string(64 * 1024, 'x') + R"(","keys":[]})"; }
    SECTION("a 1024-bit modulus") { text = with("n", odd_modulus(128)); }
    SECTION("a modulus over 8192 bits") { text = with("n", odd_modulus(1025)); }
    SECTION("n not base64url") { text = with("n", "***"); }
    SECTION("an even exponent") { text = with("e", c::base64url_encode(std::string("\x01\x00", 2))); }
    SECTION("an exponent of 1") { text = with("e", c::base64url_encode("\x01")); }
    SECTION("no e") {
        json k = good;
        k.erase("e");
        text = jwks_of({k.dump()});
    }
    SECTION("an RSA key without kid") {
        json k = good;
        k.erase("kid");
        text = jwks_of({k.dump()});
    }
    SECTION("no keys array") { text = R"({"keys":{}})"; }
    SECTION("not JSON") { text = "{"; }
    SECTION("nested too deep") { text = R"({"keys":[],"x":)" + std::string(100, '[') + std::string(100, ']') + "}"; }
    auto const r = c::Jwks::parse(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::invalid_argument);
}

TEST_CASE("crypto rich: a JWKS skips EC keys and keys not for RS256 signatures", "[crypto]") {
    json const ec = {{"kty", "EC"},
                     {"kid", "ec1"},
                     {"crv", "P-256"},
                     {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
                     {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}};
    json enc = json::parse(c::public_jwk(cert_b().private_key_pem, "enc1"));
    enc["use"] = "enc";
    json ps = json::parse(c::public_jwk(cert_b().private_key_pem, "ps1"));
    ps["alg"] = "PS256";
    auto const keys =
        c::Jwks::parse(jwks_of({ec.dump(), c::public_jwk(cert_a().private_key_pem, "k1"), enc.dump(), ps.dump()}));
    REQUIRE(keys.has_value());
    CHECK(keys->size() == 1);
    CHECK(keys->has("k1"));
    CHECK_FALSE(keys->has("ec1"));
    CHECK_FALSE(keys->has("enc1"));
    CHECK(c::verify_rs256_jwt(c::sign_rs256_jwt(k_claims, cert_a().private_key_pem, "k1"), *keys).value() == k_claims);
    // Microsoft's set also carries x5t, x5c and issuer members: they are ignored.
    json extra = json::parse(c::public_jwk(cert_a().private_key_pem, "k1"));
    extra["x5t"] = "abc";
    extra["x5c"] = {c::base64_encode(cert_a().certificate_der)};
    extra["issuer"] = "https://login.microsoftonline.com/{tenantid}/v2.0";
    CHECK(c::Jwks::parse(jwks_of({extra.dump()})).has_value());
}

TEST_CASE("crypto rich: two keys under one kid both verify", "[crypto]") {
    auto const keys = c::Jwks::parse(
        jwks_of({c::public_jwk(cert_a().private_key_pem, "k1"), c::public_jwk(cert_b().private_key_pem, "k1")}));
    REQUIRE(keys.has_value());
    CHECK(c::verify_rs256_jwt(c::sign_rs256_jwt(k_claims, cert_a().private_key_pem, "k1"), *keys).has_value());
    CHECK(c::verify_rs256_jwt(c::sign_rs256_jwt(k_claims, cert_b().private_key_pem, "k1"), *keys).has_value());
}
