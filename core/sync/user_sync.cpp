#include "sync/user_sync.hpp"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "common/strings.hpp"

namespace msteams::sync {
namespace {

constexpr std::size_t k_checks_per_batch = 50;

std::string domain_of(std::string const& address) {
    auto const at = address.rfind('@');
    return at == std::string::npos ? std::string() : strings::to_lower(address.substr(at + 1));
}

}  // namespace

bool in_domains(std::string const& address, std::vector<std::string> const& domains) {
    if (domains.empty()) {
        return true;
    }
    auto const domain = domain_of(address);
    return !domain.empty() && std::find(domains.begin(), domains.end(), domain) != domains.end();
}

// What one pass did, for its log line, and its bounds.
struct UserSync::Pass {
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::size_t handled = 0;  // Teams users listed or checked
    std::int64_t changes = 0;
    std::int64_t created = 0;
    std::int64_t updated = 0;
    std::int64_t deactivated = 0;
    std::int64_t reactivated = 0;
    std::int64_t joined = 0;
    std::int64_t failures = 0;
    std::int64_t run = 0;
    std::int64_t run_changes = 0;  // before this pass

    [[nodiscard]] bool over(UserSyncSettings const& s, std::size_t bound) const {
        return handled >= bound || std::chrono::steady_clock::now() - started >= s.pass_budget;
    }
    [[nodiscard]] bool at_limit(UserSyncSettings const& s) const {
        return run_changes + changes >= s.max_changes_per_run;
    }
};

UserSync::UserSync(UserSyncSettings settings, std::shared_ptr<mm::Api> api, store::Repositories repos,
                   std::shared_ptr<store::UserSyncStore> progress, std::shared_ptr<People> people, DirectoryLister list,
                   DirectoryReader read, std::shared_ptr<metrics::Counters> stats)
    : settings_(std::move(settings)),
      api_(std::move(api)),
      repos_(std::move(repos)),
      progress_(std::move(progress)),
      people_(std::move(people)),
      list_(std::move(list)),
      read_(std::move(read)),
      stats_(std::move(stats)) {
    for (auto& d : settings_.domains) {
        d = strings::to_lower(d);
    }
    settings_.page_size = std::clamp<std::size_t>(settings_.page_size, 1, graph::k_max_user_page);
}

std::int64_t UserSync::now_ms() const { return settings_.clock_ms ? settings_.clock_ms() : msteams::now_ms(); }

Status UserSync::run_once() {
    std::lock_guard lock(mutex_);
    if (settings_.interval.count() <= 0) {
        return {};
    }
    store::UserSyncState state;
    MSTEAMS_TRY_ASSIGN(state, progress_->state());
    if (state.phase == store::UserSyncPhase::done) {
        auto const every = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.interval).count();
        if (state.run > 0 && now_ms() - state.started_at < every) {
            return {};  // not due
        }
        bool started = false;
        MSTEAMS_TRY_ASSIGN(started, progress_->start(state, now_ms()));
        if (!started) {
            return {};  // another node started it a moment ago
        }
        MSTEAMS_TRY_ASSIGN(state, progress_->state());
        log::info("user sync: a run starts", {{"run", std::to_string(state.run)},
                                              {"guests", settings_.sync_guests ? "true" : "false"},
                                              {"domains", std::to_string(settings_.domains.size())}});
    }
    Pass pass;
    pass.run = state.run;
    pass.run_changes = state.changes;
    auto result = listing(pass, state);
    if (result) {
        result = sweeping(pass, state);
    }
    if (pass.changes > 0 || pass.failures > 0) {
        log::info("user sync: a pass made changes", {{"run", std::to_string(pass.run)},
                                                     {"handled", std::to_string(pass.handled)},
                                                     {"created", std::to_string(pass.created)},
                                                     {"updated", std::to_string(pass.updated)},
                                                     {"deactivated", std::to_string(pass.deactivated)},
                                                     {"reactivated", std::to_string(pass.reactivated)},
                                                     {"team_memberships", std::to_string(pass.joined)},
                                                     {"failures", std::to_string(pass.failures)}});
    }
    return result;
}

Result<bool> UserSync::advance(store::UserSyncState& state, store::UserSyncState next) {
    bool moved = false;
    MSTEAMS_TRY_ASSIGN(moved, progress_->advance(state, next));
    if (!moved) {
        log::warn("user sync: another node moved the run on; this one stops", {{"run", std::to_string(state.run)}});
        return false;
    }
    state = std::move(next);
    return true;
}

Status UserSync::finish(Pass& pass, store::UserSyncState& state, char const* why) {
    auto next = state;
    next.phase = store::UserSyncPhase::done;
    next.finished_at = now_ms();
    next.changes = pass.run_changes + pass.changes;
    bool moved = false;
    MSTEAMS_TRY_ASSIGN(moved, advance(state, next));
    if (moved) {
        ++stats_->user_sync_runs;
        log::info(std::string("user sync: the run ") + why,
                  {{"run", std::to_string(state.run)},
                   {"listed", std::to_string(state.listed)},
                   {"changes", std::to_string(state.changes)},
                   {"seconds", std::to_string((state.finished_at - state.started_at) / 1000)}});
    }
    return {};
}

Status UserSync::listing(Pass& pass, store::UserSyncState& state) {
    while (state.phase == store::UserSyncPhase::listing) {
        if (pass.over(settings_, settings_.users_per_pass)) {
            return {};  // the next pass goes on from here
        }
        auto page = list_(state.next_link);
        if (!page && !state.next_link.empty() && page.error().code == ErrorCode::invalid_argument) {
            // Graph no longer takes the stored link (an expired $skiptoken, another Graph host): the listing starts
            // over.
            log::warn("user sync: the stored page link was refused; reading the tenant's users from the start",
                      {{"run", std::to_string(state.run)}, {"error", page.error().message}});
            auto next = state;
            next.next_link.clear();
            bool moved = false;
            MSTEAMS_TRY_ASSIGN(moved, advance(state, next));
            if (!moved) {
                return {};
            }
            continue;
        }
        if (!page) {
            return std::unexpected(page.error());
        }
        std::vector<TeamsUserId> ids;
        for (auto const& u : page->users) {
            ids.push_back(u.id);
        }
        std::vector<store::TeamsUser> rows;
        MSTEAMS_TRY_ASSIGN(rows, progress_->users(ids));
        std::vector<TeamsUserId> accounts;
        MSTEAMS_TRY_ASSIGN(accounts, progress_->with_account(ids));
        std::unordered_map<TeamsUserId, store::TeamsUser> by_id;
        for (auto& r : rows) {
            by_id.emplace(r.teams_user_id, std::move(r));
        }
        std::unordered_set<TeamsUserId> const with_account(accounts.begin(), accounts.end());
        bool limited = false;
        for (auto const& u : page->users) {
            if (pass.at_limit(settings_)) {
                limited = true;
                break;
            }
            auto const it = by_id.find(u.id);
            MSTEAMS_TRY(handle(pass, u, it == by_id.end() ? std::nullopt : std::optional(it->second),
                               with_account.contains(u.id)));
            ++pass.handled;
        }
        stats_->user_sync_users_listed += page->users.size();
        MSTEAMS_TRY(progress_->mark_seen(ids, state.run));
        if (limited) {
            log::warn(
                "user sync: the run reached its limit of changes (syncUsersMaxPerRun) and ends here; the next run goes "
                "on",
                {{"run", std::to_string(state.run)}, {"limit", std::to_string(settings_.max_changes_per_run)}});
            return finish(pass, state, "stopped at its limit of changes");
        }
        auto next = state;
        next.listed += static_cast<std::int64_t>(page->users.size());
        next.changes = pass.run_changes + pass.changes;
        next.next_link = page->next_link;
        if (next.next_link.empty()) {
            next.phase = store::UserSyncPhase::sweeping;
            next.sweep_after = TeamsUserId();
        }
        bool moved = false;
        MSTEAMS_TRY_ASSIGN(moved, advance(state, next));
        if (!moved) {
            return {};
        }
        log::debug("user sync: a page of the tenant's users done",
                   {{"run", std::to_string(state.run)},
                    {"users", std::to_string(page->users.size())},
                    {"listed", std::to_string(state.listed)},
                    {"last_page", state.next_link.empty() ? "true" : "false"}});
    }
    return {};
}

Status UserSync::sweeping(Pass& pass, store::UserSyncState& state) {
    std::size_t checks = 0;
    while (state.phase == store::UserSyncPhase::sweeping) {
        if (checks >= settings_.checks_per_pass || pass.over(settings_, settings_.users_per_pass)) {
            return {};
        }
        auto const limit = std::min(k_checks_per_batch, settings_.checks_per_pass - checks);
        std::vector<store::TeamsUser> unseen;
        MSTEAMS_TRY_ASSIGN(unseen, progress_->unseen_synthetic(state.run, state.sweep_after, limit));
        if (unseen.empty()) {
            return finish(pass, state, "finished");
        }
        for (auto const& row : unseen) {
            if (pass.at_limit(settings_)) {
                return finish(pass, state, "stopped at its limit of changes");
            }
            std::optional<graph::GraphUser> found;
            MSTEAMS_TRY_ASSIGN(found, read_(row.teams_user_id));
            ++checks;
            ++pass.handled;
            if (!found) {
                MSTEAMS_TRY(deactivate(pass, row, "deleted from the tenant"));
            } else {
                // Missed by the listing (it changed while being read): handled as if listed.
                MSTEAMS_TRY(handle(pass, *found, row, false));
                MSTEAMS_TRY(progress_->mark_seen({row.teams_user_id}, state.run));
            }
        }
        auto next = state;
        next.sweep_after = unseen.back().teams_user_id;
        next.changes = pass.run_changes + pass.changes;
        bool moved = false;
        MSTEAMS_TRY_ASSIGN(moved, advance(state, next));
        if (!moved) {
            return {};
        }
    }
    return {};
}

bool UserSync::pass_over(Error const& e, char const* what, TeamsUserId const& id) {
    if (e.code == ErrorCode::unavailable || e.code == ErrorCode::internal) {
        return false;
    }
    ++stats_->user_sync_failures;
    log::warn(std::string("user sync: ") + what, {{"teams_user_id", id}, {"error", e.message}});
    return true;
}

Status UserSync::handle(Pass& pass, graph::GraphUser const& user, std::optional<store::TeamsUser> row,
                        bool has_account) {
    if (has_account) {
        return {};  // the person connected their own Mattermost user
    }
    auto const profile = profile_of(user);
    bool const wanted = user.account_enabled && (!profile.guest || settings_.sync_guests);
    if (row) {
        if (!row->synthetic) {
            return {};  // an existing Mattermost user matched by email, or promoted: theirs
        }
        if (!wanted) {
            return deactivate(
                pass, *row,
                !user.account_enabled ? "the Teams account is disabled" : "a guest, and guests are not synced");
        }
        return keep(pass, *row, profile);
    }
    if (!wanted || !(in_domains(profile.email, settings_.domains) || in_domains(profile.upn, settings_.domains))) {
        return {};
    }
    auto made = people_->mm_user_for(profile);
    if (!made) {
        if (pass_over(made.error(), "could not create a synthetic user", user.id)) {
            ++pass.failures;
            return {};
        }
        return std::unexpected(made.error());
    }
    std::optional<store::TeamsUser> stored;
    MSTEAMS_TRY_ASSIGN(stored, repos_.users->by_teams_id(user.id));
    if (!stored || !stored->synthetic) {
        return {};  // nobody (not synced), or matched to an existing Mattermost user
    }
    ++pass.created;
    ++pass.changes;
    return join_teams(pass, *stored);
}

Status UserSync::keep(Pass& pass, store::TeamsUser const& row, TeamsProfile const& profile) {
    if (row.deactivated_at != 0) {
        if (auto s = api_->update_user_active(row.mm_user_id, true); !s) {
            if (pass_over(s.error(), "could not reactivate a synthetic user", row.teams_user_id)) {
                ++pass.failures;
                return {};
            }
            return s;
        }
        MSTEAMS_TRY(progress_->set_deactivated(row.teams_user_id, 0));
        ++stats_->synthetic_users_reactivated;
        ++pass.reactivated;
        ++pass.changes;
        log::info("user sync: reactivated a synthetic user; what deactivated it has ended",
                  {{"teams_user_id", row.teams_user_id}, {"user_id", row.mm_user_id}});
    }
    // Mattermost's side as it is now: Teams is the source of the name, the email and (automatic promotion) the sign-in.
    auto current = api_->get_user(row.mm_user_id);
    if (!current) {
        if (pass_over(current.error(), "could not read a synthetic user", row.teams_user_id)) {
            ++pass.failures;
            return {};
        }
        return std::unexpected(current.error());
    }
    mm::User user = *current;
    bool changed = false;
    if (!profile.display_name.empty() &&
        (user.first_name != profile.display_name || user.nickname != profile.display_name)) {
        user.first_name = profile.display_name;
        user.nickname = profile.display_name;
        changed = true;
    }
    if (!profile.email.empty() && !strings::iequals(user.email, profile.email)) {
        user.email = profile.email;
        changed = true;
    }
    std::string service;
    std::string data;
    if (settings_.auth.automatic) {
        data = settings_.auth.data_for(profile.id, profile.email, profile.upn);
        service = data.empty() ? std::string() : settings_.auth.service;
    }
    if (user.auth_service != service || (!service.empty() && user.auth_data != data)) {
        // On: the person's single sign-on finds this user. Off: nobody can sign in to it (no password either).
        user.auth_service = service;
        user.auth_data = data;
        changed = true;
    }
    if (changed) {
        if (auto updated = api_->update_user(user); !updated) {
            if (pass_over(updated.error(), "could not update a synthetic user", row.teams_user_id)) {
                ++pass.failures;
                return {};
            }
            return std::unexpected(updated.error());
        }
        ++stats_->synthetic_users_updated;
        ++pass.updated;
        ++pass.changes;
        log::debug("user sync: brought a synthetic user up to date with Teams",
                   {{"teams_user_id", row.teams_user_id}, {"user_id", row.mm_user_id}});
    }
    if (row.display_name != profile.display_name || row.email != profile.email || row.upn != profile.upn) {
        MSTEAMS_TRY(progress_->set_profile(row.teams_user_id, profile.display_name, profile.email, profile.upn));
    }
    return join_teams(pass, row);
}

Status UserSync::deactivate(Pass& pass, store::TeamsUser const& row, char const* reason) {
    if (row.deactivated_at != 0) {
        return {};
    }
    if (auto s = api_->update_user_active(row.mm_user_id, false); !s) {
        if (pass_over(s.error(), "could not deactivate a synthetic user", row.teams_user_id)) {
            ++pass.failures;
            return {};
        }
        return s;
    }
    MSTEAMS_TRY(progress_->set_deactivated(row.teams_user_id, now_ms()));
    ++stats_->synthetic_users_deactivated;
    ++pass.deactivated;
    ++pass.changes;
    log::info("user sync: deactivated a synthetic user",
              {{"teams_user_id", row.teams_user_id}, {"user_id", row.mm_user_id}, {"reason", reason}});
    return {};
}

Result<std::vector<std::string>> UserSync::target_teams(std::int64_t run) {
    if (teams_run_ == run) {
        return teams_;
    }
    std::vector<MmUserId> connected;
    MSTEAMS_TRY_ASSIGN(connected, repos_.accounts->connected_users(settings_.team_sources));
    std::set<std::string> teams;
    for (auto const& user : connected) {
        auto ids = api_->get_team_ids_for_user(user);
        if (!ids) {
            if (ids.error().code == ErrorCode::unavailable) {
                return std::unexpected(ids.error());
            }
            continue;  // a user Mattermost no longer has
        }
        teams.insert(ids->begin(), ids->end());
    }
    teams_.assign(teams.begin(), teams.end());
    teams_run_ = run;
    log::debug("user sync: the teams synthetic users join",
               {{"run", std::to_string(run)}, {"teams", std::to_string(teams_.size())}});
    return teams_;
}

Status UserSync::join_teams(Pass& pass, store::TeamsUser const& row) {
    std::vector<std::string> targets;
    MSTEAMS_TRY_ASSIGN(targets, target_teams(pass.run));
    std::set<std::string> joined(row.team_ids.begin(), row.team_ids.end());
    bool added = false;
    for (auto const& team : targets) {
        if (joined.contains(team)) {
            continue;
        }
        if (auto s = api_->add_team_member(team, row.mm_user_id); !s) {
            if (pass_over(s.error(), "could not add a synthetic user to a team", row.teams_user_id)) {
                ++pass.failures;
                continue;
            }
            return s;
        }
        joined.insert(team);
        added = true;
        ++stats_->synthetic_team_memberships;
        ++pass.joined;
    }
    if (added) {
        MSTEAMS_TRY(progress_->set_team_ids(row.teams_user_id, std::vector<std::string>(joined.begin(), joined.end())));
    }
    return {};
}

}  // namespace msteams::sync
