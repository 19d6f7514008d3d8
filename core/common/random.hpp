#pragma once

#include <cstddef>
#include <string>

namespace msteams::random {

// A string of `length` characters from [A-Za-z0-9-_], from the operating system's CSPRNG (OpenSSL RAND_bytes).
// Throws std::runtime_error if the generator fails: there is no safe fallback for secrets.
std::string token(std::size_t length);

}  // namespace msteams::random
