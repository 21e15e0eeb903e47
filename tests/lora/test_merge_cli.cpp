// `slm merge --model DIR --adapter ADAPTER_DIR --out DIR` end to end: the checked flags, the summary line,
// usage errors (exit 2) and library errors (exit 1).
#include <gtest/gtest.h>

#include "lora/merge.h"
#include "models/safetensors.h"
#include "tests/cli/run_slm.h"
#include "tests/lora/test_adapter_util.h"

using namespace slm;
using namespace slm::test;

TEST(MergeCli, MergesAPeftAdapter) {
  const std::string out = temp_dir("cli_merge") + "/merged";
  const SlmRun r = run_slm("merge --model " + lora_fixture_base("phi3") + " --adapter " + lora_fixture("phi3") +
                           "/adapter --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("merged 8 modules"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max |dW|"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("config.json"), std::string::npos) << r.out;
  EXPECT_EQ(Checkpoint::open(out).names(), Checkpoint::open(lora_fixture_base("phi3")).names());
}

TEST(MergeCli, UsageAndErrors) {
  const std::string root = temp_dir("cli_merge_err");
  SlmRun r =
      run_slm("merge --model " + lora_fixture_base("llama") + " --adapter " + lora_fixture("llama") + "/adapter");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--out is required"), std::string::npos) << r.out;
  r = run_slm("merge --model " + lora_fixture_base("llama") + " --adapter " + lora_fixture("phi3") + "/adapter --out " +
              root + "/x");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("gate_up_proj"), std::string::npos) << r.out;
  r = run_slm("merge --help");
  EXPECT_EQ(r.status, 0);
  for (const char* flag : {"--model", "--adapter", "--out"}) EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}
