// The providers compiled into dec, each registered once (provider_registry.cpp). Nothing else
// names a provider: make_provider looks one up by the spec's `deploy.provider`, and reconcile
// asks every registered provider to discover what carries this installation's tags.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "infra/provider.h"

namespace dec::infra {

struct ProviderInfo {
  std::string name;     // the spec's deploy.provider
  std::string summary;  // one line for `dec providers` and errors
  std::function<std::unique_ptr<Provider>(const ProviderContext&)> make;
};

// Every provider compiled in, in registration order.
const std::vector<ProviderInfo>& all_providers();
const ProviderInfo* find_provider(const std::string& name);

// The providers reconcile asks to discover orphans: the context's `providers` when set (tests
// plugging scripted providers in), else every registered one.
std::vector<std::string> discovering_providers(const ProviderContext& context);

}  // namespace dec::infra
