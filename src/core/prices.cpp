#include "core/prices.h"

namespace dec::core {

const ListPrice* PriceTable::find(std::string_view service, std::string_view item) const {
  for (const ListPrice& price : prices) {
    if (price.service == service && price.item == item) return &price;
  }
  return nullptr;
}

std::vector<std::string> PriceTable::items(std::string_view service) const {
  std::vector<std::string> out;
  for (const ListPrice& price : prices) {
    if (price.service == service) out.emplace_back(price.item);
  }
  return out;
}

const PriceTable& shipped_prices() {
  // On-demand list prices, Linux, US East (N. Virginia), excluding taxes. Update the date with
  // the figures; the spec's `pricing:` overrides any of them.
  static constexpr std::string_view kKinesis =
      "https://aws.amazon.com/kinesis/data-streams/pricing/";
  static constexpr std::string_view kMsk = "https://aws.amazon.com/msk/pricing/";
  static constexpr std::string_view kEc2 = "https://aws.amazon.com/ec2/pricing/on-demand/";
  static constexpr std::string_view kEbs = "https://aws.amazon.com/ebs/pricing/";
  static const PriceTable kTable{
      "us-east-1",
      "2024-06",
      {
          // Kinesis Data Streams, provisioned capacity mode.
          {"kinesis", "shard-hour", 0.015, "shard-hour", kKinesis},
          {"kinesis", "million-put-units", 0.014, "million PUT payload units (25 KiB)", kKinesis},
          // Kinesis Data Streams, on-demand capacity mode.
          {"kinesis", "stream-hour", 0.04, "stream-hour", kKinesis},
          {"kinesis", "gb-written", 0.08, "GB written", kKinesis},
          {"kinesis", "gb-read", 0.04, "GB read", kKinesis},
          // Amazon MSK provisioned, standard brokers.
          {"msk", "kafka.t3.small", 0.0456, "broker-hour", kMsk},
          {"msk", "kafka.m5.large", 0.21, "broker-hour", kMsk},
          {"msk", "kafka.m5.xlarge", 0.42, "broker-hour", kMsk},
          {"msk", "kafka.m5.2xlarge", 0.84, "broker-hour", kMsk},
          {"msk", "kafka.m5.4xlarge", 1.68, "broker-hour", kMsk},
          {"msk", "storage", 0.10, "GB-month", kMsk},
          // EC2 on-demand instances, for self-managed nodes.
          {"ec2", "t3.medium", 0.0416, "instance-hour", kEc2},
          {"ec2", "m5.large", 0.096, "instance-hour", kEc2},
          {"ec2", "m5.xlarge", 0.192, "instance-hour", kEc2},
          {"ec2", "m5.2xlarge", 0.384, "instance-hour", kEc2},
          {"ec2", "m6i.large", 0.096, "instance-hour", kEc2},
          {"ec2", "m7g.large", 0.0816, "instance-hour", kEc2},
          {"ec2", "c5.large", 0.085, "instance-hour", kEc2},
          {"ec2", "c5.xlarge", 0.17, "instance-hour", kEc2},
          {"ec2", "c5.2xlarge", 0.34, "instance-hour", kEc2},
          {"ec2", "r5.large", 0.126, "instance-hour", kEc2},
          {"ec2", "r5.xlarge", 0.252, "instance-hour", kEc2},
          // EBS volumes for self-managed nodes' disks.
          {"ebs", "gp3", 0.08, "GB-month", kEbs},
      }};
  return kTable;
}

}  // namespace dec::core
