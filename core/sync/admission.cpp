#include "sync/admission.hpp"

#include <algorithm>

#include "common/strings.hpp"

namespace msteams::sync {

Admission::Admission(AdmissionSettings settings, std::shared_ptr<mm::Api> api, std::shared_ptr<store::Roster> roster)
    : settings_(std::move(settings)),
      api_(std::move(api)),
      roster_(std::move(roster)) {}

Result<std::optional<std::string>> Admission::refusal(MmUserId const& mm_user_id) {
    if (!restricted()) {
        return std::optional<std::string>();
    }
    if (!settings_.allowed_names.empty()) {
        bool listed = false;
        MSTEAMS_TRY_ASSIGN(listed, on_allow_list(mm_user_id));
        if (listed) {
            return std::optional<std::string>();
        }
    }
    if (settings_.invite_pool > 0) {
        bool invited = false;
        MSTEAMS_TRY_ASSIGN(invited, roster_->invited(mm_user_id));
        if (invited) {
            return std::optional<std::string>();
        }
        return std::optional<std::string>(
            "Connecting to Microsoft Teams is by invitation while your organization rolls it out, and you have not "
            "been invited yet. Ask a system admin to run `/msteams invite @yourname`.");
    }
    return std::optional<std::string>(
        "Connecting to Microsoft Teams is open to a list of people while your organization rolls it out, and you are "
        "not on it yet. Ask a system admin to add you.");
}

Result<bool> Admission::on_allow_list(MmUserId const& mm_user_id) {
    auto const listed = [this](std::string const& name) {
        return std::find(settings_.allowed_names.begin(), settings_.allowed_names.end(), strings::to_lower(name)) !=
               settings_.allowed_names.end();
    };
    mm::User user;
    MSTEAMS_TRY_ASSIGN(user, api_->get_user(mm_user_id));
    if (listed(user.username)) {
        return true;
    }
    // Not by name: perhaps through a group (a custom group, or one synced from AD/LDAP) named on the list.
    std::vector<std::string> groups;
    MSTEAMS_TRY_ASSIGN(groups, api_->get_group_names_for_user(mm_user_id));
    return std::any_of(groups.begin(), groups.end(), listed);
}

std::vector<std::string> parse_allow_list(std::string const& text) {
    std::vector<std::string> out;
    std::string word;
    auto const flush = [&] {
        if (!word.empty() && word.front() == '@') {
            word.erase(0, 1);
        }
        if (!word.empty() && std::find(out.begin(), out.end(), word) == out.end()) {
            out.push_back(word);
        }
        word.clear();
    };
    for (char c : text) {
        if (c == ',' || c == ';' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            flush();
        } else {
            word += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
    }
    flush();
    return out;
}

}  // namespace msteams::sync
