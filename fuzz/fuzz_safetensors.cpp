// libFuzzer target: arbitrary bytes as a whole safetensors file, through SafetensorsFile::parse_from_memory.
// The expected outcome for bad input is slm::Error; any other exception, crash or sanitizer report is a bug.
// Accepted input is then exercised: every tensor is read byte by byte (ASan catches offsets past the input,
// which libFuzzer hands over in an exactly-sized heap buffer), and the supported tensors are written back
// with safetensors_serialize and parsed again, which must succeed with the same names, shapes and bytes.
// Not a test of the mmap path (SafetensorsFile::open only adds open/fstat/mmap in front of the same parser).
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "models/safetensors.h"
#include "tensor/error.h"

namespace {

uint8_t checksum(const slm::Tensor& t) {
  const uint8_t* p = static_cast<const uint8_t*>(t.raw());
  uint8_t acc = 0;
  for (size_t i = 0; i < t.nbytes(); ++i) acc ^= p[i];
  return acc;
}

void round_trip(const slm::SafetensorsFile& f) {
  slm::NamedTensors kept;
  for (const slm::SafetensorsEntry& e : f.entries())
    if (e.supported) kept.emplace_back(e.name, f.get(e));
  const std::string bytes = slm::safetensors_serialize(kept, f.metadata());  // must not throw
  const slm::SafetensorsFile g = slm::SafetensorsFile::parse_from_memory(bytes.data(), bytes.size(), "round-trip");
  if (g.entries().size() != kept.size() || g.metadata() != f.metadata()) std::abort();
  for (const auto& [name, t] : kept) {
    const slm::Tensor r = g.get(name);
    if (r.shape() != t.shape() || r.dtype() != t.dtype()) std::abort();
    if (t.nbytes() && std::memcmp(r.raw(), t.raw(), t.nbytes()) != 0) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  slm::SafetensorsFile f;
  try {
    f = slm::SafetensorsFile::parse_from_memory(data, size, "fuzz.safetensors");
  } catch (const slm::Error&) {
    return 0;  // rejected: the expected outcome for most inputs
  }
  volatile uint8_t sink = 0;
  for (const slm::SafetensorsEntry& e : f.entries()) {
    if (!e.supported) {
      try {
        f.get(e);
        std::abort();  // an unsupported dtype must not read
      } catch (const slm::Error&) {
      }
      continue;
    }
    sink = sink ^ checksum(f.get(e));
  }
  round_trip(f);
  return 0;
}
