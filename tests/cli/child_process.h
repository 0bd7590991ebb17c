// psam run as a real child process (as a cluster runs it), for tests that stop it with signals.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace psam::test {

// A child running psam with `args`, stdout and stderr to `log`; with a file-size limit when
// fsize > 0 (SIGXFSZ ignored, so writes past it fail with EFBIG as on a full disk).
inline pid_t spawn(const std::vector<std::string>& args, const std::string& log, rlim_t fsize = 0) {
  std::vector<std::string> all = {PSAM_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) ::_exit(126);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (fsize > 0) {
      ::signal(SIGXFSZ, SIG_IGN);
      const rlimit limit{fsize, fsize};
      ::setrlimit(RLIMIT_FSIZE, &limit);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace psam::test
