// Cost estimates: what a system would cost per hour on AWS, and per million messages, at the rate
// a run measured. Prices come from the spec's `pricing:` or else from the shipped list-price table
// (core/prices.h); the model (Kinesis provisioned or on-demand, Amazon MSK, self-managed EC2
// nodes) from `pricing:` or the driver (core::default_pricing_model). Every figure is an
// estimate: list prices, one region, no data transfer, load agents, support or taxes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/spec.h"
#include "load/engine.h"

namespace dec::report {

// One line of the bill: `quantity_per_hour` units at `unit_price_usd` each.
struct CostItem {
  std::string name;  // "shards", "PUT payload units", "brokers (kafka.m5.large)"
  double quantity_per_hour = 0;
  std::string unit;  // what one unit price buys: "shard-hour", "GB written"
  double unit_price_usd = 0;
  double usd_per_hour = 0;
  std::string source;  // the pricing page, or "spec pricing.systems.kafka.instance_hour"
};

struct CostEstimate {
  std::string model;          // "kinesis-provisioned", "kinesis-on-demand", "msk", "self-managed"
  double messages_per_s = 0;  // the measured rate the estimate is for
  double per_hour_usd = 0;    // sum of the items
  double per_million_messages_usd = 0;  // per_hour_usd / (messages_per_s * 3600) * 1e6
  std::vector<CostItem> items;
  std::string region;                // of the shipped table
  std::string prices_date;           // of the shipped table; "" when every price was the spec's
  std::vector<std::string> sources;  // every item's source, once each, in item order
  std::vector<std::string> notes;    // what the estimate leaves out that the user can add
};

// Hours in a month, as AWS prorates per-month prices (GB-month of storage) per hour.
constexpr double kHoursPerMonth = 730;
// Kinesis meters provisioned writes in PUT payload units of 25 KiB of a record (rounded up),
// and on-demand data in records rounded up to 1 KiB, counted in GB of 2^30 bytes.
constexpr double kPutPayloadUnitBytes = 25 * 1024;
constexpr double kOnDemandRecordRoundingBytes = 1024;
constexpr double kBytesPerGb = 1024.0 * 1024 * 1024;

// The estimate for `system` (one of `spec.systems`, with the point's values) at `engine`'s
// measured rates: messages per second consumed (group 0), or produced when there are no
// consumers; PUT units and data written from the produced rate; data read from the consumed rate
// times the consumer groups. None when the run measured no messages.
std::optional<CostEstimate> estimate_cost(const core::Spec& spec, const core::System& system,
                                          const load::EngineResult& engine);

}  // namespace dec::report
