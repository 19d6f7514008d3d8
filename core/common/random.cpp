#include "common/random.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace msteams::random {

std::string token(std::size_t length) {
    static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::vector<unsigned char> bytes(length);
    if (length > 0 && RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        throw std::runtime_error("the random number generator failed");
    }
    std::string out;
    out.reserve(length);
    for (auto b : bytes) {
        out += k_alphabet[b & 63];  // 64 symbols: no modulo bias
    }
    return out;
}

}  // namespace msteams::random
