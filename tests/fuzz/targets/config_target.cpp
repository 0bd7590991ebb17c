// YAML config loading as `psam train` does it: a config file (part 1) whose _base_ may name
// b.yaml (part 2) and c.yaml (part 3), then key=value overrides (part 4, one per line); the
// resolved config is validated, written back as YAML and hashed.
#include "config/config.h"
#include "fuzz/fuzz_target.h"

PSAM_FUZZ_TARGET(config) {
  const auto parts = psam::fuzz::split_parts(data, size, 4);
  const char* names[] = {"config/main.yaml", "config/b.yaml", "config/c.yaml"};
  std::string main_path;
  for (size_t i = 0; i < 3; ++i) {
    const std::string path =
        psam::fuzz::write_file(names[i], i < parts.size() ? parts[i] : std::string_view());
    if (i == 0) main_path = path;
  }
  std::vector<std::string> overrides;
  if (parts.size() == 4) {
    std::string_view rest = parts[3];
    while (!rest.empty() && overrides.size() < 16) {
      const size_t nl = rest.find('\n');
      overrides.emplace_back(rest.substr(0, nl));
      rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    }
  }
  psam::config::Config c = psam::config::load<psam::config::Config>(main_path, overrides);
  c.train.validate();
  c.model.validate();
  psam::config::to_yaml(c, /*with_help=*/true);
  psam::config::hash(c);
}
