#include "report/cost.h"

#include <algorithm>
#include <cmath>

#include "core/prices.h"

namespace dec::report {
namespace {

constexpr double kSecondsPerHour = 3600;

// "100", "0.5", "12.25": quantities in item names, as people write them.
std::string short_number(double value) {
  std::string text = std::to_string(value);
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.') text.pop_back();
  return text;
}

// Builds one estimate, taking each price from the spec when given, else from the shipped table.
class Bill {
 public:
  Bill(const core::PriceTable& table, std::string spec_prefix)
      : table_(table), spec_prefix_(std::move(spec_prefix)) {}

  // False when the table has no such price (a spec that was not validated): no estimate then.
  bool add(std::string name, double quantity_per_hour, std::optional<double> given,
           const std::string& given_field, std::string_view service, std::string_view item) {
    CostItem line{std::move(name), quantity_per_hour, "", 0, 0, ""};
    const core::ListPrice* listed = table_.find(service, item);
    if (given) {
      line.unit_price_usd = *given;
      line.source = "spec " + given_field;
    } else if (listed != nullptr) {
      line.unit_price_usd = listed->usd;
      line.source = std::string(listed->source);
      shipped_used_ = true;
    } else {
      return false;
    }
    // The unit is the table's even for a spec price: it says what the spec's figure is per. Only
    // an instance type can be missing from the table (one of the user's, with its own price).
    line.unit = listed != nullptr  ? std::string(listed->unit)
                : service == "msk" ? "broker-hour"
                                   : "instance-hour";
    line.usd_per_hour = line.quantity_per_hour * line.unit_price_usd;
    items_.push_back(std::move(line));
    return true;
  }

  std::string field(std::string_view name) const { return spec_prefix_ + std::string(name); }

  CostEstimate finish(std::string model, double messages_per_s, std::vector<std::string> notes) {
    CostEstimate estimate;
    estimate.model = std::move(model);
    estimate.messages_per_s = messages_per_s;
    for (const CostItem& line : items_) {
      estimate.per_hour_usd += line.usd_per_hour;
      if (std::find(estimate.sources.begin(), estimate.sources.end(), line.source) ==
          estimate.sources.end()) {
        estimate.sources.push_back(line.source);
      }
    }
    estimate.per_million_messages_usd =
        estimate.per_hour_usd / (messages_per_s * kSecondsPerHour) * 1e6;
    estimate.items = std::move(items_);
    if (shipped_used_) {
      estimate.region = std::string(table_.region);
      estimate.prices_date = std::string(table_.date);
    }
    estimate.notes = std::move(notes);
    return estimate;
  }

 private:
  const core::PriceTable& table_;
  std::string spec_prefix_;  // "pricing.systems.kafka."
  std::vector<CostItem> items_;
  bool shipped_used_ = false;
};

}  // namespace

std::optional<CostEstimate> estimate_cost(const core::Spec& spec, const core::System& system,
                                          const load::EngineResult& engine) {
  const core::Workload& w = spec.workload;
  const double rate = w.consumers > 0 ? engine.consumed_msgs_per_s : engine.produced_msgs_per_s;
  if (engine.measured_seconds <= 0 || !(rate > 0)) return std::nullopt;

  static const core::SystemPricing kNoPricing;
  auto given = spec.pricing.systems.find(system.name);
  const core::SystemPricing& p = given != spec.pricing.systems.end() ? given->second : kNoPricing;
  const core::PricingModel model = p.model ? *p.model : core::default_pricing_model(system);
  Bill bill(core::shipped_prices(), "pricing.systems." + system.name + ".");
  std::vector<std::string> notes;
  const auto message_size = static_cast<double>(w.message_size);
  const double nodes = system.deploy.nodes;
  bool priced = true;

  // Disk per node, prorated from its monthly price; left out (and said so) when not given.
  auto add_storage = [&](const char* item_name, std::string_view service, std::string_view item) {
    if (!p.storage_gb) {
      notes.push_back("storage not counted: set " + bill.field("storage_gb") + " (GB per node)");
      return;
    }
    priced = priced &&
             bill.add(std::string(item_name) + " (" + short_number(*p.storage_gb) + " GB per node)",
                      nodes * *p.storage_gb / kHoursPerMonth, p.storage_gb_month,
                      bill.field("storage_gb_month"), service, item);
  };

  switch (model) {
    case core::PricingModel::kKinesisProvisioned: {
      // One stream per topic, `partitions` shards each; a record is PUT in 25 KiB units.
      const double shards = static_cast<double>(w.topics) * w.partitions;
      const double units_per_record = std::ceil(message_size / kPutPayloadUnitBytes);
      priced = bill.add("shards", shards, p.shard_hour, bill.field("shard_hour"), "kinesis",
                        "shard-hour") &&
               bill.add("PUT payload units",
                        units_per_record * engine.produced_msgs_per_s * kSecondsPerHour / 1e6,
                        p.million_put_units, bill.field("million_put_units"), "kinesis",
                        "million-put-units");
      break;
    }
    case core::PricingModel::kKinesisOnDemand: {
      const double record_bytes =
          std::ceil(message_size / kOnDemandRecordRoundingBytes) * kOnDemandRecordRoundingBytes;
      const double gb_per_message_hour = record_bytes * kSecondsPerHour / kBytesPerGb;
      priced = bill.add("streams", w.topics, p.stream_hour, bill.field("stream_hour"), "kinesis",
                        "stream-hour") &&
               bill.add("data written", engine.produced_msgs_per_s * gb_per_message_hour,
                        p.gb_written, bill.field("gb_written"), "kinesis", "gb-written");
      if (priced && w.consumers > 0) {
        priced = bill.add("data read",
                          engine.consumed_msgs_per_s * w.consumer_groups * gb_per_message_hour,
                          p.gb_read, bill.field("gb_read"), "kinesis", "gb-read");
      }
      break;
    }
    case core::PricingModel::kMsk: {
      const std::string type = p.instance_type.value_or("kafka.m5.large");
      priced = bill.add("brokers (" + type + ")", nodes, p.instance_hour,
                        bill.field("instance_hour"), "msk", type);
      add_storage("broker storage", "msk", "storage");
      break;
    }
    case core::PricingModel::kSelfManaged: {
      // A system's own instance type brings its own price; otherwise the top-level defaults.
      std::string type = p.instance_type.value_or(spec.pricing.instance_type.value_or("m5.large"));
      std::optional<double> hourly = p.instance_hour;
      std::string hourly_field = bill.field("instance_hour");
      if (!hourly && !p.instance_type && spec.pricing.instance_hour) {
        hourly = spec.pricing.instance_hour;
        hourly_field = "pricing.instance_hour";
      }
      priced = bill.add("instances (" + type + ")", nodes, hourly, hourly_field, "ec2", type);
      add_storage("disk", "ebs", "gp3");
      break;
    }
  }
  if (!priced) return std::nullopt;
  return bill.finish(core::pricing_model_name(model), rate, std::move(notes));
}

}  // namespace dec::report
