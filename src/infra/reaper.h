// dec reaps what it starts. Brokers are started by dec (Env::spawn) and reaped when it stops
// them, but their own children (a shell script's JVM, RabbitMQ's epmd and port programs, a
// forked save) are orphaned when a broker dies, and an orphan's exit leaves a zombie until its
// new parent waits for it. Reparented to init, that is whenever init gets to it — never, when
// `dec serve` runs as PID 1 in a container. So dec makes itself the subreaper of everything it
// starts (PR_SET_CHILD_SUBREAPER: orphans of its descendants become its children) and reaps them.
//
// The reaper must not take an exit status another part of dec waits for: it reaps only zombie
// children outside dec's own session. Commands dec runs and waits for (`ip`, `tc`, version
// probes) inherit dec's session; everything Env::spawn starts gets a session of its own, and
// Env never needs its exit status (process_alive and stop_process see a reaped process as gone),
// so brokers stopped by killing their host's cgroup, and their orphans, are reaped too.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace dec::infra {

// Idempotent. Becomes the child subreaper and starts a thread that reaps orphaned descendants
// every `interval_ms`; the thread runs until the process exits.
void start_child_reaper(int interval_ms = 200);

// Reaps, once, every zombie child the reaper may take; returns how many.
size_t reap_orphans();

}  // namespace dec::infra
