// The contract (sd_contract.h) against the code that runs it: GenerateParams / LoadOptions take
// the table's defaults, every sampler and default schedule the table names exists in the core's
// registries, and the tables are well formed (ranges, enums, defaults inside their ranges).
#include <cstdlib>
#include <set>
#include <string>

#include "../../native/include/sd.h"
#include "../../native/sample/sampler.h"
#include "../../native/sample/schedule.h"
#include "harness.h"

namespace {

const sd::OptionSpec& spec(const std::vector<sd::OptionSpec>& table, const std::string& name) {
  for (const auto& o : table)
    if (o.name == name) return o;
  std::fprintf(stderr, "no option %s\n", name.c_str());
  std::abort();
}

double number_default(const std::vector<sd::OptionSpec>& table, const std::string& name) {
  return std::atof(spec(table, name).default_json.c_str());
}
std::string string_default(const std::vector<sd::OptionSpec>& table, const std::string& name) {
  const std::string& j = spec(table, name).default_json;
  return j.size() >= 2 && j.front() == '"' ? j.substr(1, j.size() - 2) : j;
}

void test_defaults_match_the_structs() {
  const auto& g = sd::generate_option_specs();
  const sd::GenerateParams p;
  CHECK(p.steps == number_default(g, "steps"));
  CHECK(p.cfg_scale == float(number_default(g, "cfgScale")));
  CHECK(p.batch == number_default(g, "batchSize"));
  CHECK(p.clip_skip == number_default(g, "clipSkip"));
  CHECK(p.eta == float(number_default(g, "eta")));
  CHECK(p.strength == float(number_default(g, "strength")));
  CHECK(std::string(p.sampler->name) == string_default(g, "sampler"));
  CHECK(p.scheduler == sd::sample::scheduler_from_name(p.sampler->default_scheduler));
  CHECK(p.rng == string_default(g, "rng"));
  CHECK(p.original_width == number_default(g, "originalWidth") && p.crop_top == number_default(g, "cropTop"));
  const sd::ModelInfo info;
  CHECK(info.default_steps == p.steps && info.default_cfg_scale == p.cfg_scale);
  const auto& l = sd::load_option_specs();
  const sd::LoadOptions lo;
  CHECK(lo.threads == number_default(l, "threads"));
  CHECK(string_default(l, "dtype") == (lo.compute == sd::Compute::F32 ? "f32" : "bf16"));
  CHECK(p.vae_tiling == sd::VaeTiling::Auto && string_default(g, "vaeTiling") == "auto");
  CHECK(lo.vae_budget_bytes == size_t(number_default(l, "vaeMemoryMB")) << 20);
}

void test_tables_are_well_formed() {
  for (const auto* table : {&sd::generate_option_specs(), &sd::load_option_specs()}) {
    std::set<std::string> names;
    for (const auto& o : *table) {
      CHECK_MSG(names.insert(o.name).second, "option listed twice: " + o.name);
      CHECK_MSG(!o.doc.empty(), o.name + " has no doc");
      const bool numeric = o.type == sd::OptionType::Integer || o.type == sd::OptionType::Number || o.type == sd::OptionType::Seed;
      if (numeric) CHECK_MSG(o.min <= o.max, o.name + ": min > max");
      if (numeric && !o.default_json.empty()) {
        const double d = std::atof(o.default_json.c_str());
        CHECK_MSG(d >= o.min && d <= o.max, o.name + ": default " + o.default_json + " outside its range");
      }
      if (o.type == sd::OptionType::Enum) {
        bool found = false;
        for (const auto& v : o.values) found |= '"' + v + '"' == o.default_json;
        CHECK_MSG(found, o.name + ": default " + o.default_json + " is not one of its values");
      }
    }
  }
}

void test_names_exist_in_the_registries() {
  const std::vector<std::string> schedulers = sd::sample::scheduler_names();
  for (const auto& s : sd::sampler_specs()) {
    CHECK_MSG(sd::sample::find_sampler(s.name) != nullptr, "sampler " + s.name + " not in the registry");
    CHECK_MSG(!s.aliases.empty(), "sampler " + s.name + " has no A1111 label");
    bool known = false;
    for (const auto& n : schedulers) known |= n == s.default_scheduler;
    CHECK_MSG(known, s.name + ": default scheduler " + s.default_scheduler + " unknown");
  }
  for (const auto& s : sd::scheduler_specs()) CHECK_MSG(!s.aliases.empty(), "scheduler " + s.name + " has no label");
  CHECK(sd::sampler_specs().size() == sd::sample::samplers().size());
  CHECK(string_default(sd::generate_option_specs(), "scheduler") == sd::automatic_scheduler_aliases().front());
}

}  // namespace

int main() {
  test_defaults_match_the_structs();
  test_tables_are_well_formed();
  test_names_exist_in_the_registries();
  return harness::finish("test_contract");
}
