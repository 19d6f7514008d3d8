#include "sync/inbound_plan.hpp"

#include <algorithm>
#include <string_view>

#include "common/strings.hpp"

namespace msteams::sync {

std::vector<TeamsUserId> one_on_one_members(TeamsThreadId const& chat_id) {
    constexpr std::string_view prefix = "19:";
    constexpr std::string_view suffix = "@unq.gbl.spaces";
    std::string_view id = chat_id.str();
    if (!id.starts_with(prefix) || !id.ends_with(suffix)) {
        return {};
    }
    id = id.substr(prefix.size(), id.size() - prefix.size() - suffix.size());
    auto parts = strings::split(id, '_');
    if (parts.size() != 2) {
        return {};
    }
    auto a = TeamsUserId::parse(parts[0]);
    auto b = TeamsUserId::parse(parts[1]);
    if (!a || !b) {
        return {};
    }
    return {*std::move(a), *std::move(b)};
}

ReadPlan plan_reads(std::vector<store::InboxItem> const& items) {
    ReadPlan plan;
    for (auto const& i : items) {
        if (i.change_type == store::Change::catchup) {
            plan.catch_up = true;
            plan.discover_since = std::max(plan.discover_since, i.since_ms);
            continue;
        }
        if (i.change_type != store::Change::created) {
            plan.changed.insert(i.message_id);
        }
        if (std::find(plan.wanted.begin(), plan.wanted.end(), i.message_id) == plan.wanted.end()) {
            plan.wanted.push_back(i.message_id);
        }
    }
    return plan;
}

std::optional<std::int64_t> read_forward_from(std::optional<store::Portal> const& portal, ReadPlan const& plan,
                                              std::int64_t overlap_ms) {
    if (plan.each) {
        return std::nullopt;
    }
    if (portal && portal->cursor_ms > 0) {
        return portal->cursor_ms - overlap_ms;
    }
    if (plan.discover_since > 0) {
        return plan.discover_since - overlap_ms;
    }
    return std::nullopt;
}

}  // namespace msteams::sync
