#include "common/random.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace msteams::random {

void fill(unsigned char* out, std::size_t n) {
    constexpr std::size_t k_chunk = 1u << 30;  // RAND_bytes takes an int
    while (n > 0) {
        auto const step = n < k_chunk ? n : k_chunk;
        if (RAND_bytes(out, static_cast<int>(step)) != 1) {
            throw std::runtime_error("the random number generator failed");
        }
        out += step;
        n -= step;
    }
}

std::string token(std::size_t length) {
    static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::vector<unsigned char> bytes(length);
    fill(bytes.data(), bytes.size());
    std::string out;
    out.reserve(length);
    for (auto b : bytes) {
        out += k_alphabet[b & 63];  // 64 symbols: no modulo bias
    }
    return out;
}

}  // namespace msteams::random
