// What opening one rich notification item costs (core/crypto/rich.cpp): RSA-OAEP key unwrap, HMAC-SHA256, AES-256-CBC
// of a 600-byte message, with the private key parsed once (what the bridge does) and parsed per item (what it must
// not do). Prints microseconds per item, the mean of N items after a warm-up.
//   ninja -C build bench_rich_decrypt && build/bench_rich_decrypt [N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "crypto/rich.hpp"

int main(int argc, char** argv) {
    using namespace msteams;
    int const n = argc > 1 ? std::atoi(argv[1]) : 2000;
    auto const certificate = crypto::make_encryption_certificate("bench", 0, 4'000'000'000);
    auto const item = crypto::encrypt_rich_content(certificate.certificate_der, std::string(600, 'x'));
    auto const key = crypto::RsaPrivateKey::parse(certificate.private_key_pem).value();
    auto const time = [&](char const* what, auto&& open) {
        for (int i = 0; i < n / 10; ++i) {
            (void)open();
        }
        auto const t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) {
            if (!open().ok) {
                std::fprintf(stderr, "an item did not open\n");
                std::exit(1);
            }
        }
        auto const us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
        std::printf("| %s | %.0f µs |\n", what, us);
    };
    std::printf("| opening one rich item (%d items) | mean |\n|---|---|\n", n);
    time("private key parsed once", [&] {
        return crypto::decrypt_rich_content(key, item.data_b64, item.data_key_b64, item.data_signature_b64);
    });
    time("private key parsed per item", [&] {
        return crypto::decrypt_rich_content(certificate.private_key_pem, item.data_b64, item.data_key_b64,
                                            item.data_signature_b64);
    });
    return 0;
}
