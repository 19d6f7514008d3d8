#include <catch2/catch.hpp>

#include <algorithm>

#include "pg_support.hpp"
#include "store/repositories.hpp"

using msteams::TeamsUserId;
using msteams::test::TempDatabase;

namespace {

constexpr std::int64_t k_hour = 3600 * 1000;

double activity_of(msteams::store::Planning& p, std::string const& user) {
    auto const rows = p.activity().value();
    auto const it = std::find_if(rows.begin(), rows.end(), [&](auto const& r) { return r.user.str() == user; });
    REQUIRE(it != rows.end());
    return it->activity;
}

}  // namespace

TEST_CASE("store: activity adds up, halves every half-life, and a quota refusal is kept until forgotten", "[pg]") {
    TempDatabase temp;
    auto const repos = msteams::store::postgres_repositories(temp.open_migrated());
    auto& p = *repos.planning;

    REQUIRE(p.credit({TeamsUserId("u1"), TeamsUserId("u2"), TeamsUserId("u1")}, 4, 10 * k_hour, k_hour).has_value());
    CHECK(activity_of(p, "u1") == Approx(4));  // named twice in one credit: counted once
    CHECK(activity_of(p, "u2") == Approx(4));
    // Two half-lives later, 4 has become 1, and 3 more make 4.
    REQUIRE(p.credit({TeamsUserId("u1")}, 3, 12 * k_hour, k_hour).has_value());
    CHECK(activity_of(p, "u1") == Approx(4));
    CHECK(p.activity().value().size() == 2);
    // A credit dated before the stored one (another node's clock) does not move the time back.
    REQUIRE(p.credit({TeamsUserId("u1")}, 1, 11 * k_hour, k_hour).has_value());
    auto const rows = p.activity().value();
    CHECK(std::find_if(rows.begin(), rows.end(), [](auto const& r) { return r.user.str() == "u1"; })->at ==
          12 * k_hour);
    // Nothing or nobody: nothing written.
    REQUIRE(p.credit({}, 5, 13 * k_hour, k_hour).has_value());
    REQUIRE(p.credit({TeamsUserId("u3")}, 0, 13 * k_hour, k_hour).has_value());
    CHECK(p.activity().value().size() == 2);

    CHECK_FALSE(p.refusal().value().has_value());
    REQUIRE(p.set_refusal(msteams::store::QuotaRefusal{20, 5}).has_value());
    REQUIRE(p.set_refusal(msteams::store::QuotaRefusal{18, 7}).has_value());
    auto const refusal = p.refusal().value();
    REQUIRE(refusal.has_value());
    CHECK(refusal->budget == 18);
    CHECK(refusal->at == 7);
    REQUIRE(p.set_refusal(std::nullopt).has_value());
    CHECK_FALSE(p.refusal().value().has_value());
}

TEST_CASE("store: the planner sees the connected Teams users, in the order they connected", "[pg]") {
    TempDatabase temp;
    auto const repos = msteams::store::postgres_repositories(temp.open_migrated());
    for (int i = 0; i < 3; ++i) {
        msteams::store::Account a;
        a.mm_user_id = msteams::MmUserId("mm" + std::to_string(i));
        a.teams_user_id = TeamsUserId("teams" + std::to_string(i));
        a.token_sealed = "sealed";
        a.connected_at = 100 - i;
        REQUIRE(repos.accounts->connect(a, 10).has_value());
    }
    REQUIRE(repos.accounts->disconnect(msteams::MmUserId("mm1")).has_value());
    auto const connected = repos.planning->connected().value();
    REQUIRE(connected.size() == 2);
    CHECK(connected[0].user.str() == "teams2");
    CHECK(connected[0].connected_at == 98);
    CHECK(connected[1].user.str() == "teams0");
}
