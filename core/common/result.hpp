#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <expected>
#include <string>
#include <utility>

namespace msteams {

// What went wrong, in terms a caller can act on.
enum class ErrorCode {
    invalid_argument,  // the input is wrong; fix it and try again
    not_found,
    permission_denied,
    unauthenticated,
    conflict,
    too_large,
    unavailable,  // try again later (retry_after says when, if known)
    internal,     // a bug or an environment failure
};

char const* to_string(ErrorCode code) noexcept;

struct Error {
    ErrorCode code = ErrorCode::internal;
    std::string message;
    // The HTTP status a peer answered with, or the one to answer with; 0 if none.
    int http_status = 0;
    std::chrono::seconds retry_after{0};
    // A request that may have taken effect although no answer says so (a timeout or a lost connection after it was
    // sent, a 5xx of unknown effect): repeating it blindly may do it twice; look before repeating it.
    bool outcome_unknown = false;
    // The peer's own name for the error, for decisions: a Mattermost AppError id
    // ("app.user.save.username_exists.app_error"), a Graph error code ("ImageNotFound"); "" if none. Code decides on
    // this or on `code`, never on `message`, which is for people.
    std::string peer_id{};
};

template <class T>
using Result = std::expected<T, Error>;

using Status = std::expected<void, Error>;

[[nodiscard]] inline std::unexpected<Error> fail(ErrorCode code, std::string message, int http_status = 0) {
    return std::unexpected(Error{code, std::move(message), http_status, {}});
}

// Runs `work` (returning a Result or Status); an exception it throws becomes an internal error and is counted in
// `exceptions`. For the loops of worker threads: an exception leaving a thread would end the process
// (std::terminate), and one bad item must not take the bridge down nor crash-loop it.
template <class Work>
[[nodiscard]] auto guarded(std::atomic<std::uint64_t>& exceptions, Work&& work) -> decltype(work()) {
    try {
        return work();
    } catch (std::exception const& x) {
        ++exceptions;
        return fail(ErrorCode::internal, std::string("unexpected exception: ") + x.what());
    } catch (...) {
        ++exceptions;
        return fail(ErrorCode::internal, "unexpected exception");
    }
}

}  // namespace msteams

// Assigns the value of a Result expression to `target`, or returns its error from the enclosing function (which must
// return a Result or Status). g++ 12 has no monadic operations on std::expected.
#define MSTEAMS_TRY_ASSIGN(target, expr)                  \
    do {                                                  \
        auto msteams_try_ = (expr);                       \
        if (!msteams_try_) {                              \
            return std::unexpected(msteams_try_.error()); \
        }                                                 \
        target = std::move(*msteams_try_);                \
    } while (false)

// Returns the error of a Status expression from the enclosing function.
#define MSTEAMS_TRY(expr)                                 \
    do {                                                  \
        auto msteams_try_ = (expr);                       \
        if (!msteams_try_) {                              \
            return std::unexpected(msteams_try_.error()); \
        }                                                 \
    } while (false)
