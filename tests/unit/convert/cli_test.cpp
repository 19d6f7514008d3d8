#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// msteams-core sits beside core_tests in the build directory.
fs::path core_binary() { return fs::read_symlink("/proc/self/exe").parent_path() / "msteams-core"; }

struct Run {
    int status = -1;
    std::string out;
};

// `prefix` runs in the same shell first (e.g. a ulimit).
Run run_convert(std::string const& args, std::string const& input, std::string const& prefix = {}) {
    auto const dir = fs::temp_directory_path();
    auto const in = dir / ("convert_cli_in_" + std::to_string(::getpid()));
    std::ofstream(in, std::ios::binary) << input;
    std::string const command =
        "bash -c '" + prefix + core_binary().string() + " convert " + args + " < " + in.string() + " 2>/dev/null'";
    Run run;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) {
        run.out.append(buffer, n);
    }
    int const raw = ::pclose(pipe);
    run.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    fs::remove(in);
    return run;
}

}  // namespace

TEST_CASE("convert: the msteams-core convert command converts stdin both ways", "[convert]") {
    INFO("core_tests depends on msteams-core, so it is built beside it");
    REQUIRE(fs::exists(core_binary()));
    auto const to_md = run_convert("--from teams-html --to markdown", "<p>hi <b>there</b> @channel</p>");
    CHECK(to_md.status == 0);
    CHECK(to_md.out ==
          "hi **there** @\xE2\x81\xA0"
          "channel\n");

    auto const to_html = run_convert("--from markdown --to teams-html", "**hi** :smile:");
    CHECK(to_html.status == 0);
    CHECK(to_html.out == "<p><strong>hi</strong> \xF0\x9F\x98\x84</p>\n");

    auto const message = run_convert(
        "--from teams-html --to markdown --message-json",
        R"({"body":{"contentType":"html","content":"<p>Hi <at id=\"0\">Jane</at> <at id=\"1\">Smith</at></p>"},
            "mentions":[{"id":0,"mentionText":"Jane","mentioned":{"user":{"id":"u1","displayName":"Jane Smith"}}},
                        {"id":1,"mentionText":"Smith","mentioned":{"user":{"id":"u1","displayName":"Jane Smith"}}}]})");
    CHECK(message.status == 0);
    CHECK(message.out == "Hi @Jane.Smith\n");

    CHECK(run_convert("--from teams-html --to markdown --message-json", "{not json").status == 1);
    CHECK(run_convert("--from teams-html --to markdown", std::string(600 * 1024, 'a')).status == 1);
    CHECK(run_convert("--from markdown --to markdown", "x").status == 2);
    CHECK(run_convert("--from markdown --to teams-html --message-json", "x").status == 2);
    CHECK(run_convert("--from", "x").status == 2);
}

TEST_CASE("convert: --message-json refuses deeply nested JSON instead of crashing", "[convert][hostile]") {
    std::string deep = R"({"body":{"contentType":"html","content":"x"},"x":)";
    deep += std::string(200'000, '[') + std::string(200'000, ']') + "}";
    auto const run = run_convert("--from teams-html --to markdown --message-json", deep);
    CHECK(run.status == 1);  // a clear error, not a signal (-1)
    auto const ok = run_convert("--from teams-html --to markdown --message-json",
                                R"({"body":{"contentType":"html","content":"<p>fine</p>"},"x":[[[[1]]]]})");
    CHECK(ok.status == 0);
    CHECK(ok.out == "fine\n");
}

// AddressSanitizer reserves terabytes of address space, so ulimit -v cannot apply under it;
// the plain build (make test-core) runs this case.
#if !defined(__SANITIZE_ADDRESS__)
TEST_CASE("convert: the crafted inputs convert within 256 MB of address space", "[convert][hostile]") {
    auto const repeat = [](std::string const& unit, std::size_t bytes) {
        std::string out;
        while (out.size() + unit.size() <= bytes) {
            out += unit;
        }
        return out;
    };
    std::string const table = "|" + repeat("a|", 64'000) + "\n|" + repeat("-|", 64'000) + "\n";
    struct Case {
        char const* args;
        std::string input;
    };
    std::vector<Case> const cases{
        {"--from markdown --to teams-html", table + repeat("x\n", 500'000 - table.size())},
        {"--from markdown --to teams-html", repeat("![[]()", 500'000)},
        {"--from teams-html --to markdown", repeat("<ul/><ol/>", 500'000)},
        {"--from teams-html --to markdown",
         "<table><tr>" + repeat("<td>x</td>", 250'000) + "</tr>" + repeat("<tr><td>y</td></tr>", 240'000) + "</table>"},
    };
    for (auto const& c : cases) {
        INFO(c.args << " " << c.input.substr(0, 40));
        auto const run = run_convert(c.args, c.input, "ulimit -v 262144; ");
        CHECK(run.status == 0);
        CHECK(run.out.find("shown as plain text: too complex to format") != std::string::npos);
    }
}
#endif
