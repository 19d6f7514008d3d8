#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "store/database.hpp"
#include "store/detail/pq.hpp"

using msteams::ErrorCode;
using msteams::store::to_libpq_conninfo;
using namespace std::chrono_literals;

namespace {

std::string convert(std::string const& source, std::chrono::seconds timeout = 10s) {
    auto const r = to_libpq_conninfo(source, timeout);
    INFO(source << " → " << (r ? *r : r.error().message));
    REQUIRE(r.has_value());
    // Whatever comes out must be a connection string libpq accepts.
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(r->c_str(), &error);
    INFO("libpq: " << (error != nullptr ? error : ""));
    CHECK(parsed != nullptr);
    PQconninfoFree(parsed);
    PQfreemem(error);
    return *r;
}

msteams::Error refusal(std::string const& source) {
    auto const r = to_libpq_conninfo(source, 10s);
    REQUIRE_FALSE(r.has_value());
    return r.error();
}

}  // namespace

TEST_CASE("store: Mattermost's default DataSource becomes a libpq string without lib/pq's extras", "[store]") {
    CHECK(convert("postgres://mmuser:mostest@localhost/mattermost_test?sslmode=disable&connect_timeout=10&"
                  "binary_parameters=yes") ==
          "host=localhost dbname=mattermost_test user=mmuser password=mostest sslmode=disable connect_timeout=10 "
          "application_name=msteams-core");
}

TEST_CASE("store: the port, the connect timeout default and the postgresql scheme", "[store]") {
    CHECK(convert("postgresql://u:p@db.example.com:5433/mm", 7s) ==
          "host=db.example.com port=5433 dbname=mm user=u password=p connect_timeout=7 application_name=msteams-core");
    CHECK(convert("POSTGRES://u@h/db", 0s) == "host=h dbname=db user=u application_name=msteams-core");
    // The URL's own timeout and application name win over the defaults.
    CHECK(convert("postgres://u@h/db?connect_timeout=3&application_name=mine", 7s) ==
          "host=h dbname=db user=u connect_timeout=3 application_name=mine");
}

TEST_CASE("store: user, password and database name are percent-decoded and quoted when needed", "[store]") {
    // '+' stays a plus outside the query; '%40' '%3A' '%2F' decode.
    CHECK(convert("postgres://mm%40user:p%40ss%3Aw%2Fo+rd@h/my%2Ddb") ==
          "host=h dbname=my-db user=mm@user password=p@ss:w/o+rd connect_timeout=10 application_name=msteams-core");
    CHECK(convert("postgres://u:a%20b%27c%5Cd@h/db") ==
          R"(host=h dbname=db user=u password='a b\'c\\d' connect_timeout=10 application_name=msteams-core)");
    // In the query '+' is a space, as Go reads it.
    CHECK(convert("postgres://u@h/db?options=-c+statement_timeout%3D5000") ==
          "host=h dbname=db user=u options='-c statement_timeout=5000' connect_timeout=10 "
          "application_name=msteams-core");
}

TEST_CASE("store: unix-socket hosts, in the query or percent-encoded", "[store]") {
    CHECK(convert("postgres://mmuser:pw@/mattermost?host=/var/run/postgresql&sslmode=disable") ==
          "dbname=mattermost user=mmuser password=pw host=/var/run/postgresql sslmode=disable connect_timeout=10 "
          "application_name=msteams-core");
    CHECK(convert("postgres://mmuser@%2Fvar%2Frun%2Fpostgresql:5433/mattermost") ==
          "host=/var/run/postgresql port=5433 dbname=mattermost user=mmuser connect_timeout=10 "
          "application_name=msteams-core");
    // The query's host overrides the authority's.
    CHECK(convert("postgres://u@ignored/db?host=%2Ftmp") ==
          "host=/tmp dbname=db user=u connect_timeout=10 application_name=msteams-core");
}

TEST_CASE("store: IPv6 literals lose their brackets — host lists keep their order", "[store]") {
    CHECK(convert("postgres://u@[::1]:5432/db") ==
          "host=::1 port=5432 dbname=db user=u connect_timeout=10 application_name=msteams-core");
    CHECK(convert("postgres://u@[2001:db8::7]/db") ==
          "host=2001:db8::7 dbname=db user=u connect_timeout=10 application_name=msteams-core");
    CHECK(convert("postgres://u@h1:5432,[::1]:5433/db?target_session_attrs=read-write") ==
          "host=h1,::1 port=5432,5433 dbname=db user=u target_session_attrs=read-write connect_timeout=10 "
          "application_name=msteams-core");
}

TEST_CASE("store: only parameters libpq knows are kept — search_path travels in options", "[store]") {
    CHECK(convert("postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&sslcert=%2Fc.pem&"
                  "sslkey=%2Fk.pem&disable_prepared_binary_result=yes&fallback_application_name=x&foo=bar&"
                  "replication=database") ==
          "host=h dbname=db user=u sslmode=verify-full sslrootcert=/etc/ca.pem sslcert=/c.pem sslkey=/k.pem "
          "fallback_application_name=x connect_timeout=10 application_name=msteams-core");
    CHECK(convert("postgres://u@h/db?search_path=mm%20schema") ==
          R"(host=h dbname=db user=u options='-c search_path=mm\\ schema' connect_timeout=10 )"
          "application_name=msteams-core");
}

TEST_CASE("store: a libpq keyword/value DataSource is used unchanged", "[store]") {
    std::string const kv = "host=localhost dbname=mattermost user=mmuser password='se cret' sslmode=disable";
    CHECK(convert(kv) == kv);
    CHECK(convert("  dbname = mm") == "  dbname = mm");
    CHECK(convert("") == "");
}

TEST_CASE("store: other databases are refused without echoing the DataSource", "[store]") {
    for (auto const* source : {"mysql://mmuser:mostest@localhost:3306/mattermost_test",
                               "mmuser:mostest@tcp(localhost:3306)/mattermost_test?charset=utf8mb4",
                               "http://mmuser:mostest@example.com/", "sqlite3:///mostest.db"}) {
        auto const error = refusal(source);
        INFO(source << " → " << error.message);
        CHECK(error.code == ErrorCode::invalid_argument);
        CHECK_THAT(error.message, Catch::Contains("PostgreSQL"));
        CHECK_THAT(error.message, !Catch::Contains("mostest"));
    }
    CHECK_THAT(refusal("mysql://u:p@h/db").message, Catch::Contains("\"mysql\""));
}

TEST_CASE("store: malformed URLs are refused without echoing them", "[store]") {
    for (auto const* source :
         {"postgres://u:%zzsecret@h/db", "postgres://u:secret%2@h/db", "postgres://u:secret@[::1/db",
          "postgres://u:secret@h:54x/db", "postgres://u:secret%00@h/db", "postgres://u:secret@h/db?sslmode=%g1"}) {
        auto const error = refusal(source);
        INFO(source << " → " << error.message);
        CHECK(error.code == ErrorCode::invalid_argument);
        CHECK_THAT(error.message, !Catch::Contains("secret"));
    }
}

TEST_CASE("store: a NUL typed in the data source is refused, not cut by libpq", "[store]") {
    // Found by fuzz_conninfo: the keyword/value form was returned as it is, NUL included, and libpq would read
    // only what came before it (here: without sslmode=require).
    using namespace std::string_literals;
    CHECK(refusal("host=db password=x\0 sslmode=require"s).code == ErrorCode::invalid_argument);
    CHECK(refusal("postgres://u:p@db/mm?connect_timeout=5\0&sslmode=require"s).code == ErrorCode::invalid_argument);
}
