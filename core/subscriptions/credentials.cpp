#include "subscriptions/credentials.hpp"

#include <array>

#include "common/clock.hpp"
#include "common/log.hpp"

namespace msteams::subscriptions {

namespace {

constexpr std::int64_t k_day_ms = 24LL * 3600 * 1000;
constexpr std::array<int, 3> k_notice_days = {30, 7, 1};

std::string notice_text(int days, std::int64_t end_at, std::int64_t now) {
    auto const left = (end_at - now) / k_day_ms;
    std::string when = end_at <= now ? "has expired (" + utc_text(end_at, false) + ")"
                       : left == 0   ? "expires within a day (" + utc_text(end_at, false) + ")"
                                     : "expires in " + std::to_string(left) + (left == 1 ? " day" : " days") + " (" +
                                         utc_text(end_at, false) + ")";
    std::string text = "**The MS Teams integration's client secret " + when + ".** ";
    text += days == 0 ? "Nothing is bridged until a new one is set: " : "Bridging stops when it expires: before then, ";
    text +=
        "create a new client secret for the app registration in Microsoft Entra ID (Certificates & secrets) and "
        "enter it in System Console > Plugins > MS Teams > Client secret.";
    return text;
}

}  // namespace

std::optional<int> notice_due(std::int64_t now_ms, std::int64_t end_at) {
    if (end_at <= now_ms) {
        return 0;
    }
    std::optional<int> due;
    for (int days : k_notice_days) {
        if (end_at - now_ms <= days * k_day_ms) {
            due = days;
        }
    }
    return due;
}

std::optional<std::int64_t> configured_secret_expiry(std::vector<graph::AppSecret> const& secrets,
                                                     std::string const& client_secret) {
    std::optional<std::int64_t> soonest;
    for (auto const& s : secrets) {
        if (s.hint.empty() || client_secret.compare(0, s.hint.size(), s.hint) != 0) {
            continue;
        }
        if (!soonest || s.end_at < *soonest) {
            soonest = s.end_at;
        }
    }
    return soonest;
}

CredentialCheck::CredentialCheck(CredentialCheckSettings settings, SecretReader read,
                                 std::shared_ptr<store::Notices> notices, AdminTeller tell_admins)
    : settings_(std::move(settings)),
      read_(std::move(read)),
      notices_(std::move(notices)),
      tell_(std::move(tell_admins)) {}

std::int64_t CredentialCheck::clock() const { return settings_.clock_ms ? settings_.clock_ms() : now_ms(); }

std::optional<std::int64_t> CredentialCheck::expiry() const {
    std::lock_guard lock(mutex_);
    return expiry_;
}

Status CredentialCheck::run_once() {
    auto secrets = read_();
    if (!secrets) {
        if (secrets.error().code == ErrorCode::permission_denied) {
            std::lock_guard lock(mutex_);
            expiry_.reset();
            if (!told_unreadable_) {
                told_unreadable_ = true;
                log::info(
                    "the client secret's expiry cannot be read: grant the app Application.Read.All to be told "
                    "before it expires",
                    {{"error", secrets.error().message}});
            }
            return {};
        }
        return std::unexpected(secrets.error());
    }
    auto const end_at = configured_secret_expiry(*secrets, settings_.client_secret);
    {
        std::lock_guard lock(mutex_);
        expiry_ = end_at;
    }
    if (!end_at) {
        log::info("the configured client secret is not among the app registration's secrets; its expiry is unknown");
        return {};
    }
    auto const now = clock();
    auto const due = notice_due(now, *end_at);
    if (!due) {
        return {};
    }
    // Every notice this one supersedes is claimed too, so that a secret first seen 5 days before expiry gets the
    // 7-day notice only, never the 30-day one afterwards.
    bool send = false;
    for (int days : {30, 7, 1, 0}) {
        if (days < *due) {
            continue;
        }
        bool claimed = false;
        MSTEAMS_TRY_ASSIGN(
            claimed,
            notices_->claim("client-secret-expiry:" + std::to_string(*end_at) + ":" + std::to_string(days), now));
        send = send || (claimed && days == *due);
    }
    if (send) {
        log::warn("the client secret expires soon; telling system admins",
                  {{"expires", utc_text(*end_at, false)}, {"notice_days", std::to_string(*due)}});
        tell_(notice_text(*due, *end_at, now));
    }
    return {};
}

}  // namespace msteams::subscriptions
