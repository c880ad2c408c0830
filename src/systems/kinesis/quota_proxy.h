// `dec kinesis-quota`: kinesalite behind AWS's per-shard throughput quotas (systems/kinesis/
// quota.h has the model). kinesalite speaks the real Kinesis API but never throttles, while the
// per-shard quotas are what Kinesis users run into; the local provider therefore starts this proxy
// in front of it, and results stay labelled emulated.
//
//   dec kinesis-quota --listen HOST:PORT [--ready-file F] [quota options] -- COMMAND ARGS...
//
// starts COMMAND (the emulator) as a child with every "{port}" argument replaced by a free
// 127.0.0.1 port it must listen on; once that port accepts connections, listens on HOST:PORT and
// forwards every request to the emulator, except what the quotas refuse:
// - PutRecords: records over their shard's quota fail individually with ErrorCode
//   ProvisionedThroughputExceededException, the others are sent on, and the two answers are
//   merged in request order with FailedRecordCount recounted; PutRecord over quota and GetRecords
//   over quota: HTTP 400 ProvisionedThroughputExceededException.
// - A record's shard: the hash key ranges of the stream's open shards (DescribeStream, asked once
//   per stream and again after CreateStream, DeleteStream, UpdateShardCount, SplitShard,
//   MergeShards, or when a hash key falls in no range). A GetRecords call's shard: the shard of
//   the iterator, remembered from the GetShardIterator or GetRecords answer that handed it out.
// Everything else passes through unchanged (status, body, content type, the emulator's headers).
//
// The child carries the proxy's environment (dec's process tags) and dies with the proxy
// (PR_SET_PDEATHSIG). The proxy exits when the child does. On SIGTERM/SIGINT/SIGHUP it stops
// serving, stops the child (SIGTERM, SIGKILL after 5 s) and logs how much it refused.
#pragma once

#include <string>
#include <vector>

namespace dec::systems {

// Runs the proxy; `args` follow "kinesis-quota". Returns the exit code: 0 after a signal, 1 on
// failure (the emulator did not start or exited), 2 on bad usage.
int kinesis_quota_main(const std::vector<std::string>& args);

}  // namespace dec::systems
