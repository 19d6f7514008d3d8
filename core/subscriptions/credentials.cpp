#include "subscriptions/credentials.hpp"

#include <algorithm>
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

std::vector<std::string> missing_permissions(std::vector<std::string> const& required,
                                             std::vector<std::string> const& granted) {
    std::vector<std::string> missing;
    for (auto const& need : required) {
        bool satisfied = false;
        std::size_t start = 0;
        while (!satisfied) {
            auto const bar = need.find('|', start);
            auto const one = need.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
            satisfied = std::find(granted.begin(), granted.end(), one) != granted.end();
            if (bar == std::string::npos) {
                break;
            }
            start = bar + 1;
        }
        if (!satisfied) {
            missing.push_back(need.substr(0, need.find('|')));
        }
    }
    return missing;
}

CredentialCheck::CredentialCheck(CredentialCheckSettings settings, SecretReader read, PermissionReader permissions,
                                 std::shared_ptr<store::Notices> notices, AdminTeller tell_admins)
    : settings_(std::move(settings)),
      read_(std::move(read)),
      permissions_(std::move(permissions)),
      notices_(std::move(notices)),
      tell_(std::move(tell_admins)) {}

std::vector<std::string> CredentialCheck::missing() const {
    std::lock_guard lock(mutex_);
    return missing_;
}

Status CredentialCheck::check_permissions() {
    if (!permissions_) {
        return {};
    }
    std::vector<std::string> granted;
    MSTEAMS_TRY_ASSIGN(granted, permissions_());
    auto const missing = missing_permissions(settings_.required_permissions, granted);
    {
        std::lock_guard lock(mutex_);
        missing_ = missing;
    }
    if (missing.empty()) {
        return {};
    }
    std::string list;
    for (auto const& m : missing) {
        list += (list.empty() ? "`" : ", `") + m + "`";
    }
    log::warn("the app registration lacks application permissions the configured features need", {{"missing", list}});
    bool claimed = false;
    MSTEAMS_TRY_ASSIGN(claimed, notices_->claim("missing-permissions:" + list, clock()));
    if (claimed) {
        tell_("**The MS Teams integration's app registration lacks application permissions it needs:** " + list +
              ". Add them in Microsoft Entra ID (API permissions, Microsoft Graph, application permissions) and grant "
              "admin consent; until then the features that need them do not work.");
    }
    return {};
}

std::int64_t CredentialCheck::clock() const { return settings_.clock_ms ? settings_.clock_ms() : now_ms(); }

std::optional<std::int64_t> CredentialCheck::expiry() const {
    std::lock_guard lock(mutex_);
    return expiry_;
}

Status CredentialCheck::run_once() {
    MSTEAMS_TRY(check_permissions());
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
