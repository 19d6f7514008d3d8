#pragma once

#include <cstddef>
#include <string>

namespace msteams::random {

// Fills `out` with `n` bytes from the operating system's CSPRNG (OpenSSL RAND_bytes). The only entry point to it in
// the core. Throws std::runtime_error if the generator fails: there is no safe fallback for secrets.
void fill(unsigned char* out, std::size_t n);

// A string of `length` characters from [A-Za-z0-9-_], from the operating system's CSPRNG (OpenSSL RAND_bytes).
// Throws std::runtime_error if the generator fails: there is no safe fallback for secrets.
std::string token(std::size_t length);

}  // namespace msteams::random
