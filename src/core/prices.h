// The list prices dec ships for cost estimates (report/cost.h): AWS on-demand list prices in USD
// for one region, each with its unit and the public page it was read from. They are data, not
// policy: prices change and differ by region, contract and discount, so every figure built on
// them is an estimate, and any of them can be overridden by the spec's `pricing:`.
// In core (not report) because the spec parser checks instance types against it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dec::core {

struct ListPrice {
  std::string_view service;  // "kinesis", "msk", "ec2", "ebs"
  std::string_view item;     // "shard-hour", "kafka.m5.large", "m5.large", "gp3"
  double usd = 0;
  std::string_view unit;    // what one `usd` buys: "shard-hour", "broker-hour", "GB-month"
  std::string_view source;  // the pricing page the figure is from
};

struct PriceTable {
  std::string_view region;  // every price is for this region
  std::string_view date;    // when the figures were taken (YYYY-MM)
  std::vector<ListPrice> prices;

  const ListPrice* find(std::string_view service, std::string_view item) const;
  // The items of one service, in table order ("m5.large", "m5.xlarge", ... for "ec2").
  std::vector<std::string> items(std::string_view service) const;
};

// The table compiled into dec. Figures may be out of date: see docs/spec.md "Cost estimates".
const PriceTable& shipped_prices();

}  // namespace dec::core
