// The official plugin's tables, read for the import, and msteams_legacy_import's SQL.
#include "store/legacy.hpp"

#include <algorithm>
#include <string>

#include "store/detail/sql.hpp"

namespace msteams::store {
namespace {

using detail::num;
using detail::word;

constexpr std::size_t k_max_problem = 500;

// Locks the step's row and checks that its cursor is still `after` (no other node moved it) and it is not done.
Status claim_cursor(Tx& tx, LegacyStep step, std::string const& after) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, tx.exec("SELECT after_key, done FROM msteams_legacy_import WHERE step = $1 FOR UPDATE", {word(step)}));
    if (r.empty()) {
        return fail(ErrorCode::not_found, "the import step " + word(step) + " has not begun");
    }
    if (r.text(0, "done") == "t" || r.text(0, "after_key") != after) {
        return fail(ErrorCode::conflict, "the import step " + word(step) + " moved on elsewhere");
    }
    return {};
}

Status advance(Tx& tx, LegacyStep step, LegacyBatch const& batch) {
    MSTEAMS_TRY(
        tx.exec("UPDATE msteams_legacy_import SET after_key = $2, imported = imported + $3, "
                "skipped = skipped + $4, failed = failed + $5 WHERE step = $1",
                {word(step), batch.last_key, num(batch.imported), num(batch.skipped), num(batch.failed)}));
    return {};
}

// A batch done entirely in SQL: `query` ($1 after, $2 limit, $3 now) answers one row with read, last and imported.
Result<LegacyBatch> sql_batch(Database& db, LegacyStep step, std::string const& after, std::string const& query,
                              std::vector<Param> params) {
    LegacyBatch batch;
    auto const status = db.transact([&](Tx& tx) -> Status {
        MSTEAMS_TRY(claim_cursor(tx, step, after));
        Rows r;
        MSTEAMS_TRY_ASSIGN(r, tx.exec(query, params));
        batch = LegacyBatch{};
        batch.read = r.integer(0, "read");
        batch.imported = r.integer(0, "imported");
        batch.skipped = r.integer(0, "candidates") - batch.imported;
        batch.last_key = batch.read > 0 ? r.text(0, "last") : after;
        return advance(tx, step, batch);
    });
    if (!status) {
        return std::unexpected(status.error());
    }
    return batch;
}

}  // namespace

Result<LegacyTables> LegacyImportStore::tables() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec("SELECT to_regclass('msteamssync_users') IS NOT NULL AS users, "
                     "to_regclass('msteamssync_links') IS NOT NULL AS links, "
                     "to_regclass('msteamssync_posts') IS NOT NULL AS posts, "
                     "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND "
                     "table_name = 'msteamssync_users' AND column_name = 'lastconnectat') AS last_connect"));
    LegacyTables t;
    t.users = r.text(0, "users") == "t";
    t.links = r.text(0, "links") == "t";
    t.posts = r.text(0, "posts") == "t";
    t.users_last_connect_at = r.text(0, "last_connect") == "t";
    return t;
}

Result<std::vector<LegacyProgress>> LegacyImportStore::progress() {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT step, after_key, done, imported, skipped, failed, note, started_at, "
                                    "finished_at FROM msteams_legacy_import"));
    std::vector<LegacyProgress> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        LegacyProgress p;
        p.step = detail::word_at(r, i, "step", LegacyStep::settings);
        p.after_key = r.text(i, "after_key");
        p.done = r.text(i, "done") == "t";
        p.imported = r.integer(i, "imported");
        p.skipped = r.integer(i, "skipped");
        p.failed = r.integer(i, "failed");
        p.note = r.text(i, "note");
        p.started_at = r.integer(i, "started_at");
        p.finished_at = r.integer(i, "finished_at");
        out.push_back(std::move(p));
    }
    std::sort(out.begin(), out.end(), [](auto const& a, auto const& b) { return a.step < b.step; });
    return out;
}

Status LegacyImportStore::begin(LegacyStep step, std::int64_t now_ms, std::string const& note) {
    MSTEAMS_TRY(
        db_->exec("INSERT INTO msteams_legacy_import (step, note, started_at) VALUES ($1, $2, $3) "
                  "ON CONFLICT (step) DO NOTHING",
                  {word(step), note, num(now_ms)}));
    return {};
}

Status LegacyImportStore::finish(LegacyStep step, std::int64_t now_ms) {
    MSTEAMS_TRY(db_->exec("UPDATE msteams_legacy_import SET done = true, finished_at = $2 WHERE step = $1 AND NOT done",
                          {word(step), num(now_ms)}));
    return {};
}

Result<std::vector<LegacyUser>> LegacyImportStore::users_after(std::string const& after, std::size_t limit,
                                                               bool with_last_connect_at) {
    // lastconnectat is in microseconds. Of several rows of one user, the one with a token comes first.
    std::string const last_connect = with_last_connect_at ? "coalesce(u.lastconnectat, 0) / 1000" : "0";
    Rows r;
    MSTEAMS_TRY_ASSIGN(
        r, db_->exec("SELECT u.mmuserid, coalesce(u.msteamsuserid, '') AS teams_user_id, coalesce(u.token, '') AS "
                     "token, " +
                         last_connect +
                         " AS last_connect_at, mu.id IS NOT NULL AS mm_user_exists, coalesce(mu.email, '') AS email "
                         "FROM msteamssync_users u LEFT JOIN users mu ON mu.id = u.mmuserid "
                         "WHERE u.mmuserid IN (SELECT DISTINCT mmuserid FROM msteamssync_users WHERE mmuserid > $1 "
                         "ORDER BY mmuserid LIMIT $2) "
                         "ORDER BY u.mmuserid, coalesce(u.token, '') = '', u.msteamsuserid",
                     {after, num(static_cast<std::int64_t>(limit))}));
    std::vector<LegacyUser> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        auto const id = r.id<MmUserId>(i, "mmuserid");
        if (!out.empty() && out.back().mm_user_id == id) {
            continue;  // the user's first row is theirs
        }
        LegacyUser u;
        u.mm_user_id = id;
        u.teams_user_id = r.id<TeamsUserId>(i, "teams_user_id");
        u.token = r.text(i, "token");
        u.last_connect_at = r.integer(i, "last_connect_at");
        u.mm_user_exists = r.text(i, "mm_user_exists") == "t";
        u.email = r.text(i, "email");
        out.push_back(std::move(u));
    }
    return out;
}

Result<LegacyBatch> LegacyImportStore::put_accounts(std::string const& after, LegacyBatch batch,
                                                    std::vector<Account> const& accounts,
                                                    std::vector<LegacyProblem> const& problems) {
    LegacyBatch const given = batch;
    auto const status = db_->transact([&](Tx& tx) -> Status {
        batch = given;
        MSTEAMS_TRY(claim_cursor(tx, LegacyStep::accounts, after));
        for (auto const& a : accounts) {
            // A link made here already (either side) is kept as it is.
            Rows r;
            MSTEAMS_TRY_ASSIGN(
                r, tx.exec("INSERT INTO msteams_accounts (mm_user_id, teams_user_id, teams_email, teams_display_name, "
                           "token_sealed, connected_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                           {a.mm_user_id, a.teams_user_id, detail::nullable(a.teams_email),
                            detail::nullable(a.teams_display_name), a.token_sealed, num(a.connected_at)}));
            if (r.affected() > 0) {
                ++batch.imported;
            } else {
                ++batch.skipped;
            }
        }
        for (auto const& p : problems) {
            MSTEAMS_TRY(
                tx.exec("INSERT INTO msteams_legacy_import_problems (step, source_key, problem) "
                        "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        {word(LegacyStep::accounts), p.source_key, detail::error_text(p.problem, k_max_problem)}));
        }
        return advance(tx, LegacyStep::accounts, batch);
    });
    if (!status) {
        return std::unexpected(status.error());
    }
    return batch;
}

Result<LegacyBatch> LegacyImportStore::import_users(std::string const& after, std::size_t limit, std::int64_t now_ms) {
    // Every Teams user of the old table whose Mattermost user exists and is not connected here: synthetic when the
    // official plugin created the Mattermost user (it gave them its remote id), else a user matched by email.
    static std::string const query =
        "WITH batch AS (SELECT DISTINCT mmuserid FROM msteamssync_users WHERE mmuserid > $1 ORDER BY mmuserid "
        "LIMIT $2), "
        "candidates AS (SELECT b.mmuserid FROM batch b WHERE NOT EXISTS "
        "(SELECT 1 FROM msteams_accounts a WHERE a.mm_user_id = b.mmuserid)), "
        "src AS (SELECT DISTINCT ON (u.mmuserid) u.mmuserid, u.msteamsuserid, coalesce(mu.email, '') AS email, "
        "coalesce(nullif(trim(concat_ws(' ', mu.firstname, mu.lastname)), ''), nullif(mu.nickname, ''), "
        "mu.username, '') AS display_name, coalesce(mu.remoteid, '') <> '' AS synthetic "
        "FROM msteamssync_users u JOIN candidates c ON c.mmuserid = u.mmuserid JOIN users mu ON mu.id = u.mmuserid "
        "WHERE coalesce(u.msteamsuserid, '') <> '' AND NOT EXISTS "
        "(SELECT 1 FROM msteams_accounts a WHERE a.teams_user_id = u.msteamsuserid) "
        "ORDER BY u.mmuserid, u.msteamsuserid), "
        "ins AS (INSERT INTO msteams_users (teams_user_id, mm_user_id, synthetic, display_name, email, created_at) "
        "SELECT msteamsuserid, mmuserid, synthetic, display_name, email, $3 FROM src ON CONFLICT DO NOTHING "
        "RETURNING 1) "
        "SELECT (SELECT count(*) FROM batch) AS read, (SELECT max(mmuserid) FROM batch) AS last, "
        "(SELECT count(*) FROM candidates) AS candidates, (SELECT count(*) FROM ins) AS imported";
    return sql_batch(*db_, LegacyStep::users, after, query,
                     {after, num(static_cast<std::int64_t>(limit)), num(now_ms)});
}

Result<LegacyBatch> LegacyImportStore::import_links(std::string const& after, std::size_t limit, std::int64_t now_ms) {
    // A link to a Mattermost channel that is gone or archived is left behind. The portal is read from the import on
    // (cursor now): what the official plugin had bridged is not read again.
    static std::string const query =
        "WITH batch AS (SELECT mmchannelid, msteamschannelid, msteamsteamid, creator FROM msteamssync_links "
        "WHERE mmchannelid > $1 ORDER BY mmchannelid LIMIT $2), "
        "ins AS (INSERT INTO msteams_portals (teams_thread_id, kind, teams_team_id, mm_channel_id, "
        "creator_mm_user_id, created_at, cursor_ms) "
        "SELECT b.msteamschannelid, 'channel', coalesce(b.msteamsteamid, ''), b.mmchannelid, coalesce(b.creator, ''), "
        "$3, $3 FROM batch b JOIN channels c ON c.id = b.mmchannelid "
        "WHERE coalesce(b.msteamschannelid, '') <> '' AND c.deleteat = 0 ON CONFLICT DO NOTHING RETURNING 1) "
        "SELECT (SELECT count(*) FROM batch) AS read, (SELECT max(mmchannelid) FROM batch) AS last, "
        "(SELECT count(*) FROM batch) AS candidates, (SELECT count(*) FROM ins) AS imported";
    return sql_batch(*db_, LegacyStep::links, after, query,
                     {after, num(static_cast<std::int64_t>(limit)), num(now_ms)});
}

Result<LegacyBatch> LegacyImportStore::import_messages(std::string const& after, std::size_t limit) {
    // The Mattermost channel is the post's. A post the official plugin made from a Teams message carries a
    // "msteams_sync_<bot id>" property: written in Teams first; any other was written in Mattermost first. Its
    // msTeamsLastUpdateAt is in microseconds. A post deleted in Mattermost is mapped as deleted; one that is gone is
    // left behind.
    static std::string const query =
        "WITH batch AS (SELECT mmpostid, msteamspostid, msteamschannelid, msteamslastupdateat FROM msteamssync_posts "
        "WHERE mmpostid > $1 ORDER BY mmpostid LIMIT $2), "
        "ins AS (INSERT INTO msteams_messages (teams_thread_id, teams_message_id, mm_post_id, mm_channel_id, origin, "
        "teams_modified_at, deleted) "
        "SELECT b.msteamschannelid, b.msteamspostid, b.mmpostid, p.channelid, "
        "CASE WHEN coalesce(jsonb_typeof(p.props::jsonb), '') <> 'object' THEN 'mattermost' "
        "WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(p.props::jsonb) k WHERE k LIKE 'msteams\\_sync\\_%') "
        "THEN 'teams' ELSE 'mattermost' END, "
        "CASE WHEN coalesce(b.msteamslastupdateat, 0) > 100000000000000 THEN b.msteamslastupdateat / 1000 "
        "ELSE greatest(coalesce(b.msteamslastupdateat, 0), 0) END, p.deleteat <> 0 "
        "FROM batch b JOIN posts p ON p.id = b.mmpostid "
        "WHERE coalesce(b.msteamspostid, '') <> '' AND coalesce(b.msteamschannelid, '') <> '' "
        "ON CONFLICT DO NOTHING RETURNING 1) "
        "SELECT (SELECT count(*) FROM batch) AS read, (SELECT max(mmpostid) FROM batch) AS last, "
        "(SELECT count(*) FROM batch) AS candidates, (SELECT count(*) FROM ins) AS imported";
    return sql_batch(*db_, LegacyStep::messages, after, query, {after, num(static_cast<std::int64_t>(limit))});
}

Result<std::vector<LegacyProblem>> LegacyImportStore::problems(LegacyStep step, std::size_t limit) {
    Rows r;
    MSTEAMS_TRY_ASSIGN(r, db_->exec("SELECT p.source_key, p.problem, coalesce(u.username, '') AS username "
                                    "FROM msteams_legacy_import_problems p LEFT JOIN users u ON u.id = p.source_key "
                                    "WHERE p.step = $1 ORDER BY p.source_key LIMIT $2",
                                    {word(step), num(static_cast<std::int64_t>(limit))}));
    std::vector<LegacyProblem> out;
    for (std::size_t i = 0; i < r.size(); ++i) {
        out.push_back(LegacyProblem{r.text(i, "source_key"), r.text(i, "problem"), r.text(i, "username")});
    }
    return out;
}

}  // namespace msteams::store
