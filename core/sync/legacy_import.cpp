#include "sync/legacy_import.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/clock.hpp"
#include "common/log.hpp"
#include "graph/detail/support.hpp"
#include "sync/logins.hpp"

namespace msteams::sync {
namespace {

using nlohmann::json;
using store::LegacyStep;

// The steps that move data, in the order they run: users before the maps that name them.
constexpr LegacyStep k_steps[] = {LegacyStep::accounts, LegacyStep::users, LegacyStep::links, LegacyStep::messages};
constexpr std::size_t k_report_names = 20;

std::string step_name(LegacyStep s) { return std::string(store::text(s)); }

store::LegacyProgress const* find(std::vector<store::LegacyProgress> const& progress, LegacyStep step) {
    for (auto const& p : progress) {
        if (p.step == step) {
            return &p;
        }
    }
    return nullptr;
}

bool any_step(std::vector<store::LegacyProgress> const& progress) {
    for (auto const step : k_steps) {
        if (find(progress, step) != nullptr) {
            return true;
        }
    }
    return false;
}

bool all_done(std::vector<store::LegacyProgress> const& progress) {
    for (auto const step : k_steps) {
        auto const* p = find(progress, step);
        if (p == nullptr || !p->done) {
            return false;
        }
    }
    return true;
}

std::string who(std::vector<store::LegacyProblem> const& problems) {
    std::string out;
    std::size_t n = 0;
    for (auto const& p : problems) {
        if (n++ == k_report_names) {
            out += ", …";
            break;
        }
        out += (out.empty() ? "" : ", ") + (p.username.empty() ? p.source_key : "@" + p.username);
    }
    return out;
}

std::int64_t count(std::vector<store::LegacyProgress> const& progress, LegacyStep step,
                   std::int64_t store::LegacyProgress::* field) {
    auto const* p = find(progress, step);
    return p == nullptr ? 0 : p->*field;
}

}  // namespace

Result<graph::Token> open_legacy_token(std::string_view key, std::string_view sealed) {
    if (key.size() != 16 && key.size() != 24 && key.size() != 32) {
        return fail(ErrorCode::invalid_argument, "the encryption key setting (encryptionKey) has " +
                                                     std::to_string(key.size()) +
                                                     " characters; the official plugin's key had 16, 24 or 32");
    }
    auto raw = crypto::base64url_decode(sealed);
    if (!raw) {
        return fail(ErrorCode::invalid_argument, "the stored token is not base64url: " + raw.error().message);
    }
    auto opened = crypto::aes_gcm_open(key, *raw);
    if (!opened) {
        if (opened.error().code == ErrorCode::permission_denied) {
            return fail(ErrorCode::permission_denied,
                        "the stored token does not decrypt with the encryption key (was the key changed?)");
        }
        return fail(ErrorCode::invalid_argument, "the stored token is not AES-GCM output: " + opened.error().message);
    }
    auto const payload = json::parse(*opened, nullptr, false);
    if (!payload.is_object()) {
        return fail(ErrorCode::invalid_argument, "the decrypted token is not a JSON object");
    }
    auto text = [&](char const* name) {
        auto const it = payload.find(name);
        return it != payload.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    graph::Token token;
    token.access_token = text("access_token");
    token.refresh_token = text("refresh_token");
    if (token.refresh_token.empty()) {
        return fail(ErrorCode::invalid_argument, "the decrypted token has no refresh token");
    }
    // A zero or missing expiry (Go's zero time is year 1) counts as expired: the first use refreshes it.
    if (auto const at = graph::detail::parse_time(text("expiry")); at && *at > 0) {
        token.expires_at = *at;
    }
    return token;
}

LegacyImport::LegacyImport(LegacyImportSettings settings, std::shared_ptr<store::LegacyImportStore> store,
                           std::shared_ptr<store::Leases> leases, std::shared_ptr<store::Notices> notices,
                           std::shared_ptr<crypto::Sealer const> sealer, Tell tell_admins)
    : settings_(std::move(settings)),
      store_(std::move(store)),
      leases_(std::move(leases)),
      notices_(std::move(notices)),
      sealer_(std::move(sealer)),
      tell_(std::move(tell_admins)) {}

Result<LegacyOutcome> LegacyImport::run(std::function<bool()> const& stopping,
                                        std::function<void()> const& quick_done) {
    bool quick_called = false;
    auto const quick = [&] {
        if (quick_done && !quick_called) {
            quick_called = true;
            quick_done();
        }
    };
    auto const stop_now = [&] { return stopping && stopping(); };
    std::vector<store::LegacyProgress> progress;
    MSTEAMS_TRY_ASSIGN(progress, store_->progress());
    if (all_done(progress)) {
        report_once();  // a crash may have come between the last step and the message
        quick();
        return LegacyOutcome::nothing_to_import;
    }
    store::LegacyTables tables;
    MSTEAMS_TRY_ASSIGN(tables, store_->tables());
    if (!tables.any() && !any_step(progress)) {
        if (!settings_.settings_note.empty()) {
            MSTEAMS_TRY(store_->begin(LegacyStep::settings, now_ms(), settings_.settings_note));
        }
        quick();
        return LegacyOutcome::nothing_to_import;
    }
    // Whichever node runs the import, the settings this node carried over are recorded (once).
    MSTEAMS_TRY(store_->begin(LegacyStep::settings, now_ms(), settings_.settings_note));
    MSTEAMS_TRY(store_->finish(LegacyStep::settings, now_ms()));
    bool held = false;
    MSTEAMS_TRY_ASSIGN(held, keep_lease());
    if (!held) {
        quick();
        return LegacyOutcome::elsewhere;
    }
    if (!any_step(progress)) {
        log::info("importing the official MS Teams plugin's data (its tables stay as they are)",
                  {{"users", tables.users ? "yes" : "no"},
                   {"links", tables.links ? "yes" : "no"},
                   {"posts", tables.posts ? "yes" : "no"}});
    } else {
        log::info("continuing the import of the official MS Teams plugin's data");
    }
    auto const release = [&] {
        if (auto r = leases_->release(k_legacy_import_lease, settings_.node_id); !r) {
            log::warn("could not release the import's lease", {{"error", r.error().message}});
        }
    };
    for (auto const step : k_steps) {
        auto finished = run_step(step, tables, stop_now);
        if (!finished) {
            release();
            quick();
            if (finished.error().code == ErrorCode::conflict) {
                log::info("another node is importing the official plugin's data", {{"step", step_name(step)}});
                return LegacyOutcome::elsewhere;
            }
            return std::unexpected(finished.error());
        }
        if (!*finished) {
            release();
            quick();
            log::info("the import of the official plugin's data stopped; it continues where it stopped",
                      {{"step", step_name(step)}});
            return LegacyOutcome::stopped;
        }
        if (step == LegacyStep::links) {
            quick();
        }
    }
    MSTEAMS_TRY_ASSIGN(progress, store_->progress());
    log::info(
        "imported the official MS Teams plugin's data",
        {{"connected_users", std::to_string(count(progress, LegacyStep::accounts, &store::LegacyProgress::imported))},
         {"tokens_unreadable", std::to_string(count(progress, LegacyStep::accounts, &store::LegacyProgress::failed))},
         {"teams_users", std::to_string(count(progress, LegacyStep::users, &store::LegacyProgress::imported))},
         {"links", std::to_string(count(progress, LegacyStep::links, &store::LegacyProgress::imported))},
         {"messages", std::to_string(count(progress, LegacyStep::messages, &store::LegacyProgress::imported))}});
    report_once();
    release();
    return LegacyOutcome::finished;
}

Result<bool> LegacyImport::keep_lease() {
    return leases_->hold(k_legacy_import_lease, settings_.node_id, settings_.lease_ttl);
}

// True when the step is done, false when stopped before it was.
Result<bool> LegacyImport::run_step(LegacyStep step, store::LegacyTables const& tables,
                                    std::function<bool()> const& stopping) {
    MSTEAMS_TRY(store_->begin(step, now_ms()));
    std::vector<store::LegacyProgress> progress;
    MSTEAMS_TRY_ASSIGN(progress, store_->progress());
    auto const* mine = find(progress, step);
    if (mine == nullptr) {
        return fail(ErrorCode::internal, "the import step " + step_name(step) + " has no row");
    }
    if (mine->done) {
        return true;
    }
    std::string after = mine->after_key;
    bool const present = step == LegacyStep::links      ? tables.links
                         : step == LegacyStep::messages ? tables.posts
                                                        : tables.users;
    while (present) {
        if (stopping()) {
            return false;
        }
        bool held = false;
        MSTEAMS_TRY_ASSIGN(held, keep_lease());
        if (!held) {
            return fail(ErrorCode::conflict, "the import's lease was taken over");
        }
        auto const now = now_ms();
        store::LegacyBatch batch;
        switch (step) {
            case LegacyStep::accounts:
                MSTEAMS_TRY_ASSIGN(batch, accounts_batch(after, tables.users_last_connect_at));
                break;
            case LegacyStep::users:
                MSTEAMS_TRY_ASSIGN(batch, store_->import_users(after, settings_.batch_size, now));
                break;
            case LegacyStep::links:
                MSTEAMS_TRY_ASSIGN(batch, store_->import_links(after, settings_.batch_size, now));
                break;
            case LegacyStep::messages:
                MSTEAMS_TRY_ASSIGN(batch, store_->import_messages(after, settings_.batch_size));
                break;
            case LegacyStep::settings: break;
        }
        if (batch.read == 0) {
            break;
        }
        log::debug("imported a batch of the official plugin's data", {{"step", step_name(step)},
                                                                      {"read", std::to_string(batch.read)},
                                                                      {"imported", std::to_string(batch.imported)},
                                                                      {"skipped", std::to_string(batch.skipped)},
                                                                      {"failed", std::to_string(batch.failed)}});
        after = batch.last_key;
        if (after_batch) {
            after_batch(step);
        }
    }
    MSTEAMS_TRY(store_->finish(step, now_ms()));
    MSTEAMS_TRY_ASSIGN(progress, store_->progress());
    if (auto const* p = find(progress, step)) {
        log::info("imported the official plugin's " + step_name(step), {{"imported", std::to_string(p->imported)},
                                                                        {"skipped", std::to_string(p->skipped)},
                                                                        {"failed", std::to_string(p->failed)}});
    }
    return true;
}

Result<store::LegacyBatch> LegacyImport::accounts_batch(std::string const& after, bool with_last_connect_at) {
    std::vector<store::LegacyUser> users;
    MSTEAMS_TRY_ASSIGN(users, store_->users_after(after, settings_.batch_size, with_last_connect_at));
    store::LegacyBatch batch;
    if (users.empty()) {
        batch.last_key = after;
        return batch;
    }
    batch.read = static_cast<std::int64_t>(users.size());
    batch.last_key = users.back().mm_user_id.str();
    std::vector<store::Account> accounts;
    std::vector<store::LegacyProblem> problems;
    auto const now = now_ms();
    for (auto const& u : users) {
        if (u.token.empty()) {
            continue;  // not connected: the users step maps them
        }
        if (!u.mm_user_exists || u.teams_user_id.empty()) {
            ++batch.skipped;
            continue;
        }
        auto token = open_legacy_token(settings_.legacy_key, u.token);
        if (!token) {
            // Not connected here: the users step keeps their Teams identity; they connect again themselves.
            ++batch.failed;
            problems.push_back(store::LegacyProblem{u.mm_user_id.str(), token.error().message});
            log::warn("a connected user of the official plugin cannot be imported as connected",
                      {{"user_id", u.mm_user_id}, {"reason", token.error().message}});
            continue;
        }
        store::Account a;
        a.mm_user_id = u.mm_user_id;
        a.teams_user_id = u.teams_user_id;
        // The official plugin connected a user only when their Teams mail was their Mattermost email.
        a.teams_email = u.email;
        a.token_sealed = seal_token(*sealer_, *token, u.mm_user_id);
        a.connected_at = u.last_connect_at > 0 ? u.last_connect_at : now;
        accounts.push_back(std::move(a));
    }
    return store_->put_accounts(after, batch, accounts, problems);
}

void LegacyImport::report_once() {
    auto claimed = notices_->claim(k_legacy_import_notice, now_ms());
    if (!claimed) {
        log::warn("could not record the import's report", {{"error", claimed.error().message}});
        return;
    }
    if (!*claimed) {
        return;  // told already, by this node or another
    }
    auto progress = store_->progress();
    auto problems = store_->problems(LegacyStep::accounts, k_report_names + 1);
    if (!progress || !problems) {
        log::warn("could not read the import's report");
        return;
    }
    if (tell_) {
        tell_(legacy_report(*progress, *problems));
    }
}

std::string legacy_report(std::vector<store::LegacyProgress> const& progress,
                          std::vector<store::LegacyProblem> const& problems) {
    auto const n = [&](LegacyStep s, std::int64_t store::LegacyProgress::* f) {
        return std::to_string(count(progress, s, f));
    };
    using P = store::LegacyProgress;
    std::string text =
        "The data of the official Mattermost MS Teams plugin that this plugin replaced has been imported (its tables "
        "are left as they were):\n";
    text += "- **Connected users:** " + n(LegacyStep::accounts, &P::imported) +
            " stay connected to Microsoft Teams without connecting again";
    if (count(progress, LegacyStep::accounts, &P::skipped) > 0) {
        text +=
            "; " + n(LegacyStep::accounts, &P::skipped) + " were connected here already or are no longer in Mattermost";
    }
    text += ".\n";
    if (count(progress, LegacyStep::accounts, &P::failed) > 0) {
        text += "- **Not imported as connected:** " + n(LegacyStep::accounts, &P::failed) +
                " users whose Teams token could not be read with the encryption key (" + who(problems) +
                "). They are asked to connect again when they next need to (`/msteams connect`).\n";
    }
    text += "- **Teams users** (synthetic users and Mattermost users matched to a Teams account): " +
            n(LegacyStep::users, &P::imported) + " imported, " + n(LegacyStep::users, &P::skipped) + " skipped.\n";
    text += "- **Linked channels:** " + n(LegacyStep::links, &P::imported) + " imported, " +
            n(LegacyStep::links, &P::skipped) +
            " skipped (their Mattermost channel is gone or archived, or linked already).\n";
    text += "- **Message map:** " + n(LegacyStep::messages, &P::imported) +
            " messages imported (their edits, "
            "deletions and replies keep bridging), " +
            n(LegacyStep::messages, &P::skipped) + " skipped (their posts are gone, or mapped already).\n";
    if (auto const* s = find(progress, LegacyStep::settings); s != nullptr && !s->note.empty()) {
        text += "- **Settings carried over:** " + s->note + ".\n";
    }
    return text;
}

std::string legacy_status(std::vector<store::LegacyProgress> const& progress,
                          std::vector<store::LegacyProblem> const& problems) {
    using P = store::LegacyProgress;
    if (!any_step(progress)) {
        return {};
    }
    auto const n = [&](LegacyStep s, std::int64_t P::* f) { return std::to_string(count(progress, s, f)); };
    std::string counts = n(LegacyStep::accounts, &P::imported) + " connected users, " +
                         n(LegacyStep::users, &P::imported) + " Teams users, " + n(LegacyStep::links, &P::imported) +
                         " linked channels, " + n(LegacyStep::messages, &P::imported) + " messages";
    if (count(progress, LegacyStep::accounts, &P::failed) > 0) {
        counts += "; " + n(LegacyStep::accounts, &P::failed) +
                  " users not imported as connected (token unreadable: " + who(problems) + ")";
    }
    if (!all_done(progress)) {
        std::string at;
        for (auto const step : k_steps) {
            if (auto const* p = find(progress, step); p == nullptr || !p->done) {
                at = step_name(step);
                break;
            }
        }
        return "importing (step " + at + "; so far " + counts + ")";
    }
    std::int64_t finished = 0;
    for (auto const& p : progress) {
        finished = std::max(finished, p.finished_at);
    }
    return "imported " + utc_text(finished, false) + ": " + counts;
}

}  // namespace msteams::sync
