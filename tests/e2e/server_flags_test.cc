// popguard's command line, run as the real binary (POPGUARD_BINARY_DIR/popguard)
// in a subprocess: --version, --help, flag mistakes, and --check_config with
// its warnings on stderr, --strict, command-line overrides checked like the
// YAML keys they replace, and a directory given as the config path.
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/popguard_process.h"
#include "tests/testing/test_env.h"

namespace popguard::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ServerFlagsTest : public ::testing::Test {
 protected:
  ProgramResult Run(const std::vector<std::string>& args) {
    return RunProgram(PopguardProcess::ServerBinary(), args, dir_.path());
  }
  std::string Config(const std::string& extra) {
    return dir_.Write("popguard.yaml", QuickstartYaml(extra));
  }
  TempDir dir_;
};

TEST_F(ServerFlagsTest, VersionIsTheProjectVersionAndGitRevision) {
  ProgramResult r = Run({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(std::regex_match(
      r.out, std::regex(R"(popguard [0-9]+\.[0-9]+\.[0-9]+ \(([0-9A-Za-z._+-]+|no git revision: )"
                        R"(built outside a git checkout)\)\n)")))
      << r.out;
  EXPECT_EQ(r.err, "");
  ProgramResult cli =
      RunProgram(std::string(POPGUARD_BINARY_DIR) + "/popguard-cli", {"--version"}, dir_.path());
  EXPECT_EQ(cli.exit_code, 0);
  EXPECT_EQ(cli.out, "popguard-cli" + r.out.substr(std::string("popguard").size()));
}

// cmake/popguard_version.cmake, which writes what --version prints: a tree
// without git history has no revision (the binary then says "built outside a
// git checkout"), and POPGUARD_REVISION can name one.
TEST_F(ServerFlagsTest, VersionScriptOutsideGitHasNoRevision) {
  struct Case {
    std::string revision_arg;
    std::string want_revision;
  };
  const std::vector<Case> cases = {{"", ""}, {"-DREVISION=v1.2.3-4-gabc", "v1.2.3-4-gabc"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.revision_arg);
    const std::string out = dir_.path() + "/version.cc";
    const std::string cmd =
        absl::StrCat("cmake -DVERSION=1.2.3 -DSOURCE_DIR=", dir_.path(), " -DOUT=", out, " ",
                     c.revision_arg, " -P ", POPGUARD_SOURCE_DIR, "/cmake/popguard_version.cmake");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    ProgramResult cat = RunProgram("/bin/cat", {out}, dir_.path());
    EXPECT_THAT(cat.out, HasSubstr("kPopguardVersion[] = \"1.2.3\";"));
    EXPECT_THAT(cat.out, HasSubstr("kPopguardRevision[] = \"" + c.want_revision + "\";"));
  }
}

TEST_F(ServerFlagsTest, HelpListsPopguardsOwnFlagsOnly) {
  for (const char* flag : {"--help", "-h"}) {
    SCOPED_TRACE(flag);
    ProgramResult r = Run({flag});
    EXPECT_EQ(r.exit_code, 0);
    for (const char* own : {"--config FILE", "--listen HOST:PORT", "--log_level LEVEL",
                            "--check_config", "--strict", "--version"}) {
      EXPECT_THAT(r.out, HasSubstr(own));
    }
    for (const char* abseil : {"helpfull", "flagfile", "fromenv", "undefok", "absl"}) {
      EXPECT_THAT(r.out, Not(HasSubstr(abseil)));
    }
  }
}

TEST_F(ServerFlagsTest, FlagMistakesAreErrorsNamingTheFlag) {
  const std::string cfg = Config("");
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"--config", cfg, "--bogus"}, "popguard: unknown flag --bogus (see popguard --help)\n"},
      {{"--config", cfg, "--noop"}, "popguard: unknown flag --noop (see popguard --help)\n"},
      {{"--config=" + cfg, "-config", cfg},
       "popguard: unexpected argument #2 (flags start with --)\n"},
      {{"--config", cfg, cfg}, "popguard: unexpected argument #3 (flags start with --)\n"},
      {{"--config", cfg, "--config", cfg}, "popguard: --config given more than once\n"},
      {{"--config"}, "popguard: --config needs a value\n"},
      {{"--listen", "127.0.0.1:0"}, "popguard: --config is required\n"},
      {{"--config", cfg, "--check_config=yes"}, "popguard: --check_config takes no value\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.err);
    ProgramResult r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err, c.err);
  }
}

TEST_F(ServerFlagsTest, CheckConfigChecksOverridesLikeTheYaml) {
  const std::string cfg = Config("");
  struct Case {
    std::vector<std::string> args;
    std::string err;  // "" : accepted
  };
  const std::vector<Case> cases = {
      {{"--listen", "127.0.0.1:0"}, ""},
      {{"--listen", "[::1]:9001", "--log_level", "warn"}, ""},
      {{"--listen", "localhost"},
       "popguard: --listen: \"localhost\" is not host:port (e.g. 127.0.0.1:9001, [::]:9001)\n"},
      {{"--listen", "127.0.0.1:99999"},
       "popguard: --listen: \"127.0.0.1:99999\" is not host:port (e.g. 127.0.0.1:9001, "
       "[::]:9001)\n"},
      {{"--log_level", "verbose"},
       "popguard: --log_level: \"verbose\" is not one of debug, info, warn, error\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.args[0], " ", c.args[1]));
    std::vector<std::string> args = {"--check_config", "--config", cfg};
    args.insert(args.end(), c.args.begin(), c.args.end());
    ProgramResult r = Run(args);
    EXPECT_EQ(r.exit_code, c.err.empty() ? 0 : 2);
    EXPECT_EQ(r.err, c.err);
  }
}

TEST_F(ServerFlagsTest, CheckConfigWarnsOnStderrAndStrictRefuses) {
  struct Case {
    std::string yaml;
    std::vector<std::string> warnings;  // each printed as "popguard: warning: ..."
  };
  const std::vector<Case> cases = {
      {"routes:\n  - {name: public, match: {path_prefix: /public}, binding: bearer}\n", {}},
      {"trusted_xfcc: true\n",
       {"trusted_xfcc is true: x-forwarded-client-cert is taken as the client's certificate"}},
      {"default_binding: bearer\n",
       {"default_binding is bearer: a request no route matches is allowed with an unbound"}},
      {"routes:\n"
       "  - {name: all, match: {path_prefix: /}, binding: dpop}\n"
       "  - {name: admin, match: {path_prefix: /admin}, binding: mtls}\n",
       // The dead route itself (policy.h), then the catch-all.
       {"route \"admin\" (routes[1]) can never match: earlier route \"all\" takes every request "
        "it matches",
        "route \"all\" (routes[0]) matches every request (no host, path_prefix or route_key): "
        "the 1 route after it can never match"}},
      {"routes:\n"
       "  - {name: api, match: {path_prefix: /api}, binding: dpop}\n"
       "  - {name: api-v1, match: {path_prefix: /api/v1}, binding: mtls}\n",
       {"route \"api-v1\" (routes[1]) can never match: earlier route \"api\" takes every request "
        "it matches"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    const std::string cfg = Config(c.yaml);
    ProgramResult r = Run({"--check_config", "--config", cfg});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> lines;
    for (size_t pos = 0, eol; (eol = r.err.find('\n', pos)) != std::string::npos; pos = eol + 1) {
      lines.push_back(r.err.substr(pos, eol - pos));
    }
    ASSERT_EQ(lines.size(), c.warnings.size()) << r.err;
    for (size_t i = 0; i < lines.size(); ++i) {
      EXPECT_THAT(lines[i], ::testing::StartsWith("popguard: warning: " + c.warnings[i]));
    }
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("\"warnings\":", c.warnings.size())));

    ProgramResult strict = Run({"--check_config", "--strict", "--config", cfg});
    EXPECT_EQ(strict.exit_code, c.warnings.empty() ? 0 : 1) << strict.err;
    if (!c.warnings.empty()) {
      EXPECT_THAT(strict.err, HasSubstr(absl::StrCat("popguard: --strict: ", c.warnings.size(),
                                                     " config warning")));
    }
  }
}

TEST_F(ServerFlagsTest, StrictServerRefusesToStartWithWarnings) {
  const std::string cfg = Config("trusted_xfcc: true\n");
  ProgramResult r = Run({"--strict", "--config", cfg, "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("popguard: --strict: 1 config warning\n"));
  EXPECT_THAT(r.out, HasSubstr("\"event\":\"config_warning\""));
  EXPECT_THAT(r.out, Not(HasSubstr("\"event\":\"listening\"")));
}

TEST_F(ServerFlagsTest, ConfigPathErrorsSayWhatThePathIs) {
  struct Case {
    std::string path;
    std::string err;
  };
  const std::vector<Case> cases = {
      {dir_.path(), absl::StrCat("popguard: config path ", dir_.path(),
                                 " is a directory, not a file (name the YAML file in it)\n")},
      {dir_.path() + "/missing.yaml",
       absl::StrCat("popguard: config file ", dir_.path(), "/missing.yaml does not exist\n")},
      {"/dev/null", "popguard: config path /dev/null is not a regular file\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    for (bool check : {true, false}) {
      std::vector<std::string> args = {"--config", c.path, "--listen", "127.0.0.1:0"};
      if (check) args.push_back("--check_config");
      ProgramResult r = Run(args);
      EXPECT_EQ(r.exit_code, 2);
      EXPECT_EQ(r.err, c.err);
    }
  }
}

}  // namespace
}  // namespace popguard::e2e
