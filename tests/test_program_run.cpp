// experiments/io/program_run.hpp: arguments reach the program as they are (no shell), the environment is
// extended and overridden, output is captured or written to files, and failures are told apart.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>

#include "engine/atomic_file.hpp"
#include "experiments/io/program_run.hpp"

namespace fs = std::filesystem;
using moelab::cli::ProgramIo;
using moelab::cli::run_program;

BOOST_AUTO_TEST_SUITE(program_run)

BOOST_AUTO_TEST_CASE(arguments_pass_without_a_shell) {
    const fs::path dir = fs::temp_directory_path() / "moelab_program_run";
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string out;
    // A shell would run the touch and expand the variable; printf gets both as literal text.
    const std::string hostile = "x$(touch pwned)'\"; $HOME";
    BOOST_TEST(run_program({"printf", "%s|", hostile, "two words"}, {.cwd = dir.string(), .captured_stdout = &out}) == 0);
    BOOST_TEST(out == hostile + "|two words|");
    BOOST_TEST(!fs::exists(dir / "pwned"));
    // Files: stdout and stderr apart, in the working directory asked for.
    BOOST_TEST(run_program({"sh", "-c", "pwd; echo oops >&2; exit 3"},
                           {.cwd = dir.string(), .stdout_path = (dir / "o.txt").string(), .stderr_path = (dir / "e.txt").string()}) == 3);
    BOOST_TEST(moelab::read_file((dir / "o.txt").string()) == fs::canonical(dir).string() + "\n");
    BOOST_TEST(moelab::read_file((dir / "e.txt").string()) == "oops\n");
    fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(environment_is_extended_and_overridden) {
    ::setenv("MOELAB_PROGRAM_RUN_A", "inherited", 1);
    ::setenv("MOELAB_PROGRAM_RUN_B", "kept", 1);
    std::string out;
    BOOST_TEST(run_program({"sh", "-c", "printf '%s,%s,%s' \"$MOELAB_PROGRAM_RUN_A\" \"$MOELAB_PROGRAM_RUN_B\" \"$MOELAB_PROGRAM_RUN_C\""},
                           {.captured_stdout = &out, .env = {"MOELAB_PROGRAM_RUN_A=replaced", "MOELAB_PROGRAM_RUN_C=added"}}) == 0);
    BOOST_TEST(out == "replaced,kept,added");
    ::unsetenv("MOELAB_PROGRAM_RUN_A");
    ::unsetenv("MOELAB_PROGRAM_RUN_B");
}

BOOST_AUTO_TEST_CASE(a_missing_program_is_minus_one_not_an_exit_status) {
    BOOST_TEST(run_program({"moelab-no-such-program-here"}) == -1);
    BOOST_TEST(run_program({}) == -1);
    BOOST_TEST(run_program({"sh", "-c", "kill -9 $$"}) == -1);   // killed: did not exit normally
    BOOST_TEST(moelab::cli::on_path("sh"));
    BOOST_TEST(!moelab::cli::on_path("moelab-no-such-program-here"));
}

BOOST_AUTO_TEST_SUITE_END()
