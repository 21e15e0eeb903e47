// Constructors of the family classes, one per models/<family>.cpp; model.cpp picks one by model_type.
#pragma once
#include <memory>

#include "models/model.h"

namespace slm {

std::unique_ptr<Model> make_llama(const ModelConfig& c, ComputeMode m);
std::unique_ptr<Model> make_qwen2(const ModelConfig& c, ComputeMode m);
std::unique_ptr<Model> make_qwen3(const ModelConfig& c, ComputeMode m);
std::unique_ptr<Model> make_phi3(const ModelConfig& c, ComputeMode m);
std::unique_ptr<Model> make_gemma(const ModelConfig& c, ComputeMode m);
std::unique_ptr<Model> make_gemma2(const ModelConfig& c, ComputeMode m);
std::unique_ptr<Model> make_gemma3_text(const ModelConfig& c, ComputeMode m);

}  // namespace slm
