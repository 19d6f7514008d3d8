#include "crypto/rich.hpp"

#include "common/json_depth.hpp"
#include "crypto/crypto.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <climits>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>
#include <vector>

namespace msteams::crypto {
namespace {

using nlohmann::json;

constexpr std::size_t k_symmetric_key_size = 32;  // AES-256
constexpr std::size_t k_iv_size = 16;             // AES block; Graph takes the key's first 16 bytes
constexpr std::size_t k_signature_size = 32;      // HMAC-SHA256
constexpr std::size_t k_max_data_key_b64 = 1024;  // an RSA-8192 wrapped key is 1,368 characters; Graph uses 2048-4096
constexpr std::size_t k_max_signature_b64 = 64;   // 32 bytes are 44 characters
constexpr std::size_t k_max_pem = 64 * 1024;      // an RSA-8192 PKCS#8 PEM is about 6.5 KB
constexpr std::size_t k_max_common_name = 64;     // X.520 ub-common-name, which OpenSSL enforces too
constexpr std::size_t k_max_jwks = 64 * 1024;
constexpr std::size_t k_max_jwks_keys = 32;
constexpr int k_min_modulus_bits = 2048;
constexpr int k_max_modulus_bits = 8192;
constexpr std::size_t k_max_exponent_bytes = 8;  // real keys use 65537; a huge e only costs verification time
constexpr std::size_t k_max_jwt = 16 * 1024;

// --- OpenSSL ownership ---------------------------------------------------------------------------------------------

template <class T, void (*Free)(T*)>
struct Freer {
    void operator()(T* p) const noexcept { Free(p); }
};
template <class T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Freer<T, Free>>;

using Pkey = Owned<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtx = Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtx = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using CipherCtx = Owned<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using Bignum = Owned<BIGNUM, BN_free>;
using ParamBld = Owned<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using Params = Owned<OSSL_PARAM, OSSL_PARAM_free>;
using Cert = Owned<X509, X509_free>;
using Name = Owned<X509_NAME, X509_NAME_free>;
using Extension = Owned<X509_EXTENSION, X509_EXTENSION_free>;
void bio_free(BIO* b) { BIO_free(b); }  // BIO_free returns int: wrap it for Owned
using Bio = Owned<BIO, bio_free>;

[[noreturn]] void openssl_failure(char const* what) {
    ERR_clear_error();
    throw std::runtime_error(std::string("OpenSSL failed: ") + what);
}

unsigned char const* bytes(std::string_view s) noexcept { return reinterpret_cast<unsigned char const*>(s.data()); }
unsigned char* bytes(std::string& s) noexcept { return reinterpret_cast<unsigned char*>(s.data()); }

// Wipes a secret (the symmetric key, a plaintext refused late) when it goes out of scope.
class Wipe {
public:
    explicit Wipe(std::string& secret) noexcept : secret_(secret) {}
    Wipe(Wipe const&) = delete;
    Wipe& operator=(Wipe const&) = delete;
    ~Wipe() { OPENSSL_cleanse(secret_.data(), secret_.size()); }

private:
    std::string& secret_;
};

std::string upper_hex(unsigned char const* p, std::size_t n) {
    static constexpr char k_digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        out += k_digits[p[i] >> 4];
        out += k_digits[p[i] & 15];
    }
    return out;
}

// A PEM BIO on the text itself; nullptr when it is too large for OpenSSL's int length.
Bio read_bio(std::string_view text) {
    if (text.size() > k_max_pem) {
        return nullptr;
    }
    Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) {
        openssl_failure("BIO_new_mem_buf");
    }
    return bio;
}

// Encrypted PEM needs a passphrase, which the bridge never has. Without this callback OpenSSL would prompt on the
// terminal.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

// The RSA private key of a PEM (PKCS#8 or PKCS#1), or nullptr when it is not one. Clears the error queue.
Pkey load_rsa_private_key(std::string_view pem) {
    Bio const bio = read_bio(pem);
    if (!bio) {
        return nullptr;
    }
    Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    if (!key || EVP_PKEY_is_a(key.get(), "RSA") != 1) {
        ERR_clear_error();
        return nullptr;
    }
    return key;
}

// --- the certificate -----------------------------------------------------------------------------------------------

Pkey generate_rsa_2048() {
    PkeyCtx const ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), 2048) != 1 ||
        EVP_PKEY_generate(ctx.get(), &raw) != 1) {
        openssl_failure("RSA key generation");
    }
    return Pkey(raw);
}

// A random positive serial of 16 bytes (RFC 5280 allows up to 20); the top byte is kept in 0x40-0x7F so the
// number is never zero nor negative and always has the same length.
void set_random_serial(X509* cert) {
    std::string serial = random_bytes(16);
    serial[0] = static_cast<char>((static_cast<unsigned char>(serial[0]) & 0x7F) | 0x40);
    Bignum const bn(BN_bin2bn(bytes(serial), static_cast<int>(serial.size()), nullptr));
    if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
        openssl_failure("certificate serial");
    }
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, char const* value) {
    Extension const ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
        openssl_failure("certificate extension");
    }
}

std::string der_of(X509* cert) {
    int const len = i2d_X509(cert, nullptr);
    if (len <= 0) {
        openssl_failure("certificate DER length");
    }
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* p = bytes(der);
    if (i2d_X509(cert, &p) != len) {
        openssl_failure("certificate DER");
    }
    return der;
}

// PKCS#8 PEM, through a secure-heap BIO so the buffer holding the key is wiped when freed.
std::string pkcs8_pem(EVP_PKEY* key) {
    Bio const bio(BIO_new(BIO_s_secmem()));
    if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        openssl_failure("PKCS#8 PEM");
    }
    std::string pem(BIO_ctrl_pending(bio.get()), '\0');
    if (!pem.empty() && BIO_read(bio.get(), pem.data(), static_cast<int>(pem.size())) != static_cast<int>(pem.size())) {
        openssl_failure("PKCS#8 PEM read");
    }
    return pem;
}

// --- the symmetric part of a rich notification -----------------------------------------------------------------

// AES-256-CBC with PKCS#7 padding, IV = key[0:16]. Returns false (error queue cleared) when decryption fails.
bool aes_cbc(bool encrypt, std::string_view key, std::string_view in, std::string& out) {
    auto const* const iv = bytes(key);  // Graph's choice: the key's first 16 bytes
    CipherCtx const ctx(EVP_CIPHER_CTX_new());
    if (!ctx || EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, bytes(key), iv, encrypt ? 1 : 0) != 1) {
        openssl_failure("AES-CBC init");
    }
    out.assign(in.size() + k_iv_size, '\0');  // room for a block of padding
    int len = 0;
    int written = 0;
    if (!in.empty()) {
        if (EVP_CipherUpdate(ctx.get(), bytes(out), &len, bytes(in), static_cast<int>(in.size())) != 1) {
            openssl_failure("AES-CBC update");
        }
        written = len;
    }
    if (EVP_CipherFinal_ex(ctx.get(), bytes(out) + written, &len) != 1) {
        if (encrypt) {
            openssl_failure("AES-CBC final");
        }
        ERR_clear_error();  // bad padding
        OPENSSL_cleanse(out.data(), out.size());
        out.clear();
        return false;
    }
    out.resize(static_cast<std::size_t>(written) + static_cast<std::size_t>(len));
    return true;
}

// RSA-OAEP with SHA-1 and MGF1-SHA-1, empty label: what Graph wraps the symmetric key with.
PkeyCtx oaep_ctx(EVP_PKEY* key, bool encrypt) {
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || (encrypt ? EVP_PKEY_encrypt_init(ctx.get()) : EVP_PKEY_decrypt_init(ctx.get())) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha1()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha1()) != 1) {
        openssl_failure("RSA-OAEP init");
    }
    return ctx;
}

// The symmetric key from dataKey, or "" (error queue cleared) when it does not unwrap.
std::string unwrap_key(EVP_PKEY* key, std::string_view wrapped) {
    PkeyCtx const ctx = oaep_ctx(key, false);
    std::size_t len = 0;
    if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, bytes(wrapped), wrapped.size()) != 1) {
        ERR_clear_error();
        return {};
    }
    std::string out(len, '\0');
    if (EVP_PKEY_decrypt(ctx.get(), bytes(out), &len, bytes(wrapped), wrapped.size()) != 1) {
        ERR_clear_error();
        return {};
    }
    out.resize(len);
    return out;
}

RichPlaintext refused(RichRefusal why) {
    ERR_clear_error();
    RichPlaintext r;
    r.refusal = why;
    return r;
}

// --- JWS ---------------------------------------------------------------------------------------------------------

// A JSON text from outside, parsed only when it nests shallowly; discarded (a null value) when it does not parse.
json parse_json(std::string_view text) {
    if (!json_limits::nesting_within(text, json_limits::k_max_json_depth)) {
        return json::value_t::discarded;
    }
    return json::parse(text, nullptr, false);
}

// A string member of a JSON object, or nullptr when absent or not a string.
std::string const* string_member(json const& object, char const* name) {
    auto const it = object.find(name);
    return it != object.end() && it->is_string() ? it->get_ptr<std::string const*>() : nullptr;
}

Bignum bignum(std::string_view big_endian) {
    Bignum bn(BN_bin2bn(bytes(big_endian), static_cast<int>(big_endian.size()), nullptr));
    if (!bn) {
        openssl_failure("BN_bin2bn");
    }
    return bn;
}

// An RSA public key from a JWK's n and e (base64url, big-endian), within the set's limits.
Result<Pkey> rsa_public_key(json const& jwk, std::string const& kid) {
    auto const* const n_text = string_member(jwk, "n");
    auto const* const e_text = string_member(jwk, "e");
    if (n_text == nullptr || e_text == nullptr) {
        return fail(ErrorCode::invalid_argument, "JWKS: RSA key " + kid + " has no n or e");
    }
    auto const n_bytes = base64url_decode(*n_text);
    auto const e_bytes = base64url_decode(*e_text);
    if (!n_bytes || !e_bytes || e_bytes->empty() || e_bytes->size() > k_max_exponent_bytes) {
        return fail(ErrorCode::invalid_argument, "JWKS: RSA key " + kid + " has a malformed n or e");
    }
    Bignum const n = bignum(*n_bytes);
    Bignum const e = bignum(*e_bytes);
    int const bits = BN_num_bits(n.get());
    if (bits < k_min_modulus_bits || bits > k_max_modulus_bits) {
        return fail(ErrorCode::invalid_argument,
                    "JWKS: RSA key " + kid + " has a " + std::to_string(bits) + "-bit modulus (2048-8192 accepted)");
    }
    // An even modulus or an exponent below 3 or even is no RSA key.
    if (BN_is_odd(n.get()) != 1 || BN_is_odd(e.get()) != 1 || BN_is_one(e.get()) == 1) {
        return fail(ErrorCode::invalid_argument, "JWKS: RSA key " + kid + " has an impossible n or e");
    }

    ParamBld const bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
        openssl_failure("OSSL_PARAM_BLD");
    }
    Params const params(OSSL_PARAM_BLD_to_param(bld.get()));
    PkeyCtx const ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
        openssl_failure("EVP_PKEY_fromdata_init");
    }
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        ERR_clear_error();
        return fail(ErrorCode::invalid_argument, "JWKS: RSA key " + kid + " is not a usable public key");
    }
    return Pkey(raw);
}

// RSASSA-PKCS1-v1_5 with SHA-256 (JWA "RS256").
bool rs256_verifies(EVP_PKEY* key, std::string_view signed_part, std::string_view signature) {
    MdCtx const ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key, nullptr) != 1) {
        openssl_failure("RS256 verify init");
    }
    bool const ok =
        EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(signed_part), signed_part.size()) == 1;
    ERR_clear_error();
    return ok;
}

}  // namespace

// --- certificates --------------------------------------------------------------------------------------------------

EncryptionCertificate make_encryption_certificate(std::string_view common_name, std::int64_t not_before,
                                                  std::int64_t not_after) {
    // 64 characters of UTF-8 are at most 256 bytes; OpenSSL counts the characters below.
    if (common_name.empty() || common_name.size() > k_max_common_name * 4 || not_after < not_before) {
        throw std::invalid_argument("encryption certificate: empty or long common name, or validity ends first");
    }
    Pkey const key = generate_rsa_2048();
    Cert const cert(X509_new());
    if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
        openssl_failure("X509_new");
    }
    set_random_serial(cert.get());
    if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<std::time_t>(not_before)) == nullptr ||
        ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<std::time_t>(not_after)) == nullptr) {
        ERR_clear_error();
        throw std::invalid_argument("encryption certificate: validity out of range");
    }
    // Self-signed: the subject is also the issuer. OpenSSL refuses a CN over 64 characters or not UTF-8.
    Name const name(X509_NAME_new());
    if (!name) {
        openssl_failure("X509_NAME_new");
    }
    if (X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8, bytes(common_name),
                                   static_cast<int>(common_name.size()), -1, 0) != 1) {
        ERR_clear_error();
        throw std::invalid_argument("encryption certificate: common name over 64 characters or not UTF-8");
    }
    if (X509_set_subject_name(cert.get(), name.get()) != 1 || X509_set_issuer_name(cert.get(), name.get()) != 1 ||
        X509_set_pubkey(cert.get(), key.get()) != 1) {
        openssl_failure("certificate fields");
    }
    // An end-entity certificate whose key wraps keys; Graph checks none of this, but it says what the key is for.
    X509V3_CTX ctx{};
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,keyEncipherment,dataEncipherment");
    add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
        openssl_failure("certificate signature");
    }

    EncryptionCertificate out;
    out.certificate_der = der_of(cert.get());
    out.private_key_pem = pkcs8_pem(key.get());
    unsigned char sha1[20];
    if (EVP_Digest(out.certificate_der.data(), out.certificate_der.size(), sha1, nullptr, EVP_sha1(), nullptr) != 1) {
        openssl_failure("SHA-1 thumbprint");
    }
    out.thumbprint = upper_hex(sha1, sizeof sha1);
    return out;
}

// --- rich notification content -------------------------------------------------------------------------------------

std::string_view to_string(RichRefusal r) noexcept {
    switch (r) {
        case RichRefusal::malformed: return "malformed";
        case RichRefusal::key: return "key";
        case RichRefusal::signature: return "signature";
        case RichRefusal::data: return "data";
    }
    return "unknown";
}

struct RsaPrivateKey::Impl {
    Pkey key;
};

RsaPrivateKey::RsaPrivateKey() = default;
RsaPrivateKey::~RsaPrivateKey() { delete impl_; }
RsaPrivateKey::RsaPrivateKey(RsaPrivateKey&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)) {}
RsaPrivateKey& RsaPrivateKey::operator=(RsaPrivateKey&& other) noexcept {
    if (this != &other) {
        delete impl_;
        impl_ = std::exchange(other.impl_, nullptr);
    }
    return *this;
}

Result<RsaPrivateKey> RsaPrivateKey::parse(std::string_view pem) {
    Pkey key = load_rsa_private_key(pem);
    if (!key) {
        return fail(ErrorCode::invalid_argument, "not an RSA private key");
    }
    RsaPrivateKey out;
    out.impl_ = new Impl{std::move(key)};
    return out;
}

RichPlaintext decrypt_rich_content(std::string_view private_key_pem, std::string_view data_b64,
                                   std::string_view data_key_b64, std::string_view data_signature_b64) {
    auto key = RsaPrivateKey::parse(private_key_pem);
    if (!key) {
        return refused(RichRefusal::malformed);
    }
    return decrypt_rich_content(*key, data_b64, data_key_b64, data_signature_b64);
}

RichPlaintext decrypt_rich_content(RsaPrivateKey const& private_key, std::string_view data_b64,
                                   std::string_view data_key_b64, std::string_view data_signature_b64) {
    // Bound the work before doing any: sizes first, then decoding.
    if (data_b64.size() > k_max_rich_data || data_key_b64.size() > k_max_data_key_b64 ||
        data_signature_b64.size() > k_max_signature_b64) {
        return refused(RichRefusal::malformed);
    }
    auto const data = base64_decode(data_b64);
    auto const wrapped_key = base64_decode(data_key_b64);
    auto const signature = base64_decode(data_signature_b64);
    // A CBC ciphertext is whole blocks, at least one (the padding): anything else cannot be Graph's.
    if (!data || !wrapped_key || !signature || signature->size() != k_signature_size || data->empty() ||
        data->size() % k_iv_size != 0) {
        return refused(RichRefusal::malformed);
    }
    if (private_key.impl_ == nullptr || !private_key.impl_->key) {
        return refused(RichRefusal::malformed);
    }
    std::string symmetric = unwrap_key(private_key.impl_->key.get(), *wrapped_key);
    Wipe const wipe_key{symmetric};
    if (symmetric.size() != k_symmetric_key_size) {
        return refused(RichRefusal::key);
    }
    // Authenticate before decrypting: CBC padding errors on forged data must never be observable.
    std::string const mac = hmac_sha256(symmetric, *data);
    if (CRYPTO_memcmp(mac.data(), signature->data(), k_signature_size) != 0) {
        return refused(RichRefusal::signature);
    }
    RichPlaintext out;
    if (!aes_cbc(false, symmetric, *data, out.plaintext)) {
        return refused(RichRefusal::data);
    }
    out.ok = true;
    return out;
}

RichCiphertext encrypt_rich_content(std::string_view certificate_der, std::string_view plaintext) {
    // The decryptor's limit on data, less what base64 and padding add.
    if (plaintext.size() > k_max_rich_data / 4 * 3 - k_iv_size) {
        throw std::length_error("encrypt_rich_content: plaintext over the rich data limit");
    }
    auto const* p = bytes(certificate_der);
    Cert const cert(d2i_X509(nullptr, &p, static_cast<long>(certificate_der.size())));
    EVP_PKEY* const public_key = cert ? X509_get0_pubkey(cert.get()) : nullptr;
    if (public_key == nullptr || EVP_PKEY_is_a(public_key, "RSA") != 1) {
        ERR_clear_error();
        throw std::invalid_argument("encrypt_rich_content: not a DER certificate of an RSA key");
    }

    std::string key = random_bytes(k_symmetric_key_size);  // fresh for every item
    Wipe const wipe_key{key};
    std::string ciphertext;
    aes_cbc(true, key, plaintext, ciphertext);

    PkeyCtx const ctx = oaep_ctx(public_key, true);
    std::size_t len = 0;
    if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, bytes(key), key.size()) != 1) {
        openssl_failure("RSA-OAEP encrypt length");
    }
    std::string wrapped(len, '\0');
    if (EVP_PKEY_encrypt(ctx.get(), bytes(wrapped), &len, bytes(key), key.size()) != 1) {
        openssl_failure("RSA-OAEP encrypt");
    }
    wrapped.resize(len);

    RichCiphertext out;
    out.data_signature_b64 = base64_encode(hmac_sha256(key, ciphertext));
    out.data_b64 = base64_encode(ciphertext);
    out.data_key_b64 = base64_encode(wrapped);
    return out;
}

// --- JWKS and RS256 --------------------------------------------------------------------------------------------------

struct Jwks::Impl {
    // A kid may in principle appear twice (during a rotation): a token verifies if any key of its kid accepts it.
    std::vector<std::pair<std::string, Pkey>> keys;
};

Jwks::Jwks() = default;
Jwks::~Jwks() { delete impl_; }
Jwks::Jwks(Jwks&& other) noexcept : impl_(std::exchange(other.impl_, nullptr)) {}
Jwks& Jwks::operator=(Jwks&& other) noexcept {
    if (this != &other) {
        delete impl_;
        impl_ = std::exchange(other.impl_, nullptr);
    }
    return *this;
}

Result<Jwks> Jwks::parse(std::string_view json_text) {
    if (json_text.size() > k_max_jwks) {
        return fail(ErrorCode::invalid_argument, "JWKS larger than 64 KiB");
    }
    json const doc = parse_json(json_text);
    if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
        return fail(ErrorCode::invalid_argument, "JWKS is not a JSON object with a keys array");
    }
    json const& entries = doc["keys"];
    if (entries.size() > k_max_jwks_keys) {
        return fail(ErrorCode::invalid_argument, "JWKS has " + std::to_string(entries.size()) + " keys (32 accepted)");
    }
    Jwks set;
    set.impl_ = new Impl;
    for (json const& jwk : entries) {
        auto const* const kty = jwk.is_object() ? string_member(jwk, "kty") : nullptr;
        if (kty == nullptr) {
            return fail(ErrorCode::invalid_argument, "JWKS: a key without kty");
        }
        // Keys of other types, or marked for encryption or another algorithm, cannot check an RS256 signature.
        auto const* const use = string_member(jwk, "use");
        auto const* const alg = string_member(jwk, "alg");
        if (*kty != "RSA" || (use != nullptr && *use != "sig") || (alg != nullptr && *alg != "RS256")) {
            continue;
        }
        auto const* const kid = string_member(jwk, "kid");
        if (kid == nullptr || kid->empty()) {
            return fail(ErrorCode::invalid_argument, "JWKS: an RSA key without kid");
        }
        auto key = rsa_public_key(jwk, *kid);
        if (!key) {
            return std::unexpected(key.error());
        }
        set.impl_->keys.emplace_back(*kid, std::move(*key));
    }
    return set;
}

bool Jwks::has(std::string_view kid) const {
    if (impl_ == nullptr) {
        return false;
    }
    for (auto const& [k, key] : impl_->keys) {
        if (k == kid) {
            return true;
        }
    }
    return false;
}

std::size_t Jwks::size() const noexcept { return impl_ == nullptr ? 0 : impl_->keys.size(); }

Result<std::string> verify_rs256_jwt(std::string_view jwt, Jwks const& keys) {
    if (jwt.size() > k_max_jwt) {
        return fail(ErrorCode::invalid_argument, "JWT larger than 16 KiB");
    }
    auto const dot1 = jwt.find('.');
    auto const dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || jwt.find('.', dot2 + 1) != std::string_view::npos) {
        return fail(ErrorCode::invalid_argument, "JWT is not three dot-separated parts");
    }
    auto const header_text = base64url_decode(jwt.substr(0, dot1));
    json const header = header_text ? parse_json(*header_text) : json(json::value_t::discarded);
    if (!header.is_object()) {
        return fail(ErrorCode::invalid_argument, "JWT header is not a base64url JSON object");
    }
    // Only RS256: "none", HMAC (which a public key would let anyone forge) and the rest are refused as
    // permission_denied, like a wrong signature: such a token is well-formed but proves nothing. A critical
    // extension is one this code does not understand (RFC 7515 §4.1.11), so the token is refused the same way.
    auto const* const alg = string_member(header, "alg");
    if (alg == nullptr || *alg != "RS256" || header.contains("crit")) {
        return fail(ErrorCode::permission_denied, "JWT is not plain RS256");
    }
    auto const* const kid = string_member(header, "kid");
    if (kid == nullptr) {
        return fail(ErrorCode::invalid_argument, "JWT header names no kid");
    }
    if (!keys.has(*kid)) {
        return fail(ErrorCode::not_found, "JWT signed with key " + *kid + ", which the key set does not have");
    }
    auto const signature = base64url_decode(jwt.substr(dot2 + 1));
    if (!signature) {
        return fail(ErrorCode::invalid_argument, "JWT signature is not base64url");
    }
    std::string_view const signed_part = jwt.substr(0, dot2);
    bool verified = false;
    for (auto const& [k, key] : keys.impl_->keys) {
        if (k == *kid && rs256_verifies(key.get(), signed_part, *signature)) {
            verified = true;
            break;
        }
    }
    if (!verified) {
        return fail(ErrorCode::permission_denied, "JWT signature does not verify with key " + *kid);
    }
    auto payload = base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
    if (!payload || !parse_json(*payload).is_object()) {
        return fail(ErrorCode::invalid_argument, "JWT payload is not a base64url JSON object");
    }
    return std::move(*payload);
}

std::string sign_rs256_jwt(std::string_view payload_json, std::string_view private_key_pem, std::string_view kid) {
    Pkey const key = load_rsa_private_key(private_key_pem);
    if (!key) {
        throw std::invalid_argument("sign_rs256_jwt: not an RSA private key PEM");
    }
    json const header = {{"alg", "RS256"}, {"kid", std::string(kid)}};
    std::string const signed_part = base64url_encode(header.dump()) + "." + base64url_encode(payload_json);
    MdCtx const ctx(EVP_MD_CTX_new());
    std::size_t len = 0;
    if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.get(), nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, bytes(signed_part), signed_part.size()) != 1) {
        openssl_failure("RS256 sign init");
    }
    std::string signature(len, '\0');
    if (EVP_DigestSign(ctx.get(), bytes(signature), &len, bytes(signed_part), signed_part.size()) != 1) {
        openssl_failure("RS256 sign");
    }
    signature.resize(len);
    return signed_part + "." + base64url_encode(signature);
}

std::string public_jwk(std::string_view private_key_pem, std::string_view kid) {
    Pkey const key = load_rsa_private_key(private_key_pem);
    if (!key) {
        throw std::invalid_argument("public_jwk: not an RSA private key PEM");
    }
    auto const component = [&](char const* name) {
        BIGNUM* raw = nullptr;
        if (EVP_PKEY_get_bn_param(key.get(), name, &raw) != 1) {
            openssl_failure("EVP_PKEY_get_bn_param");
        }
        Bignum const bn(raw);
        std::string big_endian(static_cast<std::size_t>(BN_num_bytes(bn.get())), '\0');
        BN_bn2bin(bn.get(), bytes(big_endian));
        return base64url_encode(big_endian);
    };
    json const jwk = {{"kty", "RSA"},
                      {"use", "sig"},
                      {"kid", std::string(kid)},
                      {"n", component(OSSL_PKEY_PARAM_RSA_N)},
                      {"e", component(OSSL_PKEY_PARAM_RSA_E)}};
    return jwk.dump();
}

}  // namespace msteams::crypto
