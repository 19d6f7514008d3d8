// GET /admin/connected-users.csv over PostgreSQL: for system admins only, one line per connected (or lost)
// account, safe to open in a spreadsheet.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "fakes/pipeline_world.hpp"
#include "store/pg_support.hpp"
#include "store/roster.hpp"
#include "web/report_route.hpp"
#include "web/router.hpp"

using msteams::MmUserId;
using msteams::web::csv_cell;

namespace {

msteams::web::Request get(std::string const& user) {
    msteams::web::Request q;
    q.method = "GET";
    q.path = msteams::web::k_report_path;
    q.user_id = MmUserId(user);
    return q;
}

}  // namespace

TEST_CASE("report: CSV cells are quoted and a formula is never run by a spreadsheet", "[web]") {
    CHECK(csv_cell("alice") == "\"alice\"");
    CHECK(csv_cell("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(csv_cell("a,b\nc") == "\"a,b\nc\"");
    for (auto const* formula : {"=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"}) {
        INFO(formula);
        CHECK(csv_cell(formula) == "\"'" + std::string(formula) + "\"");
    }
    CHECK(csv_cell("") == "\"\"");
}

TEST_CASE("report: admins download the connected users as CSV, others are refused", "[pg]") {
    msteams::test::TempDatabase temp;
    auto db = temp.open_migrated();
    auto accounts = msteams::store::postgres_accounts(db);
    auto roster = msteams::store::postgres_roster(db);
    auto api = std::make_shared<msteams::test::PipelineApi>();
    api->admins.insert("admin000000000000000000000");
    // Enough accounts for several pages of the database reads.
    std::size_t const n = msteams::web::k_report_page + 3;
    for (std::size_t i = 0; i < n; ++i) {
        char id[32];
        std::snprintf(id, sizeof id, "user%022zu", i);
        api->add_user(MmUserId(id), "user" + std::to_string(i));
        msteams::store::Account a;
        a.mm_user_id = MmUserId(id);
        a.teams_user_id = msteams::TeamsUserId("t-" + std::to_string(i));
        a.teams_display_name = i == 0 ? "=HYPERLINK(\"http://evil.example\")" : "User " + std::to_string(i);
        a.teams_email = "user" + std::to_string(i) + "@example.com";
        a.token_sealed = "sealed";
        a.connected_at = 1'700'000'000'000;
        REQUIRE(accounts->connect(a, 100'000).has_value());
    }
    REQUIRE(roster->set_health(MmUserId("user0000000000000000000001"), msteams::store::TokenHealth::refresh_failed)
                .has_value());

    msteams::web::Router router;
    bool active = true;
    msteams::web::install_report_route(router, api, [&]() { return active ? roster : nullptr; });

    auto const refused = router.handle(get("user0000000000000000000001"));
    CHECK(refused.status == 403);
    CHECK(refused.body.find("user0@example.com") == std::string::npos);

    auto const r = router.handle(get("admin000000000000000000000"));
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "text/csv; charset=utf-8");
    CHECK(r.header("Content-Disposition").find("attachment") != std::string::npos);
    std::size_t lines = 0;
    for (char c : r.body) {
        lines += c == '\n' ? 1 : 0;
    }
    CHECK(lines == n + 1);  // the header and every account, across pages
    CHECK(r.body.rfind("\"Mattermost user\",\"Mattermost user id\",\"Teams user\"", 0) == 0);
    CHECK(r.body.find("\"user0\",\"user0000000000000000000000\",\"'=HYPERLINK(\"\"http://evil.example\"\")\","
                      "\"user0@example.com\",\"t-0\",\"2023-11-14 22:13:20 UTC\",\"\",\"ok\"") != std::string::npos);
    CHECK(r.body.find("\"user1\",\"user0000000000000000000001\",\"User 1\",\"user1@example.com\",\"t-1\","
                      "\"2023-11-14 22:13:20 UTC\",\"\",\"refresh failed\"") != std::string::npos);

    active = false;
    CHECK(router.handle(get("admin000000000000000000000")).status == 503);
}
