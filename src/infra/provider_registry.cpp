#include "infra/provider_registry.h"

#include "infra/endpoints_provider.h"
#include "infra/kubernetes/kubernetes_provider.h"
#include "infra/local_provider.h"
#include "infra/terraform/terraform_provider.h"

namespace dec::infra {

const std::vector<ProviderInfo>& all_providers() {
  static const std::vector<ProviderInfo> kProviders = {
      {"local", "brokers and load agents on this machine (processes, namespaces, cgroups)",
       [](const ProviderContext& c) { return std::make_unique<LocalProvider>(c); }},
      {"endpoints", "a system that already exists, reached at the given addresses",
       [](const ProviderContext& c) { return std::make_unique<EndpointsProvider>(c); }},
      {"kubernetes", "brokers and load agents as pods of a Kubernetes cluster, through kubectl",
       [](const ProviderContext& c) {
         return std::make_unique<KubernetesProvider>(c, kubernetes::make_process_runner(*c.env));
       }},
      {"terraform", "AWS infrastructure as one Terraform/OpenTofu stack (Kinesis, MSK, EC2)",
       [](const ProviderContext& c) { return std::make_unique<terraform::TerraformProvider>(c); }},
  };
  return kProviders;
}

const ProviderInfo* find_provider(const std::string& name) {
  for (const auto& info : all_providers()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

std::vector<std::string> discovering_providers(const ProviderContext& context) {
  if (!context.providers.empty()) return context.providers;
  std::vector<std::string> names;
  for (const auto& info : all_providers()) names.push_back(info.name);
  return names;
}

Result<std::unique_ptr<Provider>> make_provider(const std::string& name,
                                                const ProviderContext& context) {
  if (context.factory) return context.factory(name);
  if (const ProviderInfo* info = find_provider(name)) return info->make(context);
  std::string known;
  for (const auto& info : all_providers()) known += (known.empty() ? "" : ", ") + info.name;
  return make_error("provider \"" + name +
                    "\" is not available in this build; available providers: " + known);
}

}  // namespace dec::infra
