import Synchronization

/// One call of a scenario. `worker` and `sequence` let the operation pick its target
/// (which agent to heartbeat, which relay to move to) without shared state.
public typealias Operation = @Sendable (_ worker: Int, _ sequence: Int) async throws -> Void

/// Drives an operation and measures it.
public enum LoadGenerator {
    /// Closed loop: `concurrency` callers each issue their next call as soon as the last
    /// one returns, for `warmup` (not measured) then `duration`. Measures what the
    /// server sustains.
    public static func closedLoop(
        concurrency: Int,
        warmup: Duration,
        duration: Duration,
        operation: @escaping Operation
    ) async -> LoadResult {
        let clock = ContinuousClock()
        let start = clock.now
        let measureFrom = start + warmup
        let end = measureFrom + duration
        let result = await withTaskGroup(of: LoadResult.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var result = LoadResult()
                    var sequence = worker
                    while true {
                        let sent = clock.now
                        if sent >= end { break }
                        do {
                            try await operation(worker, sequence)
                            if sent >= measureFrom { result.record(clock.now - sent) }
                        } catch {
                            if sent >= measureFrom { result.record(clock.now - sent, error: error) }
                        }
                        sequence += concurrency
                    }
                    return result
                }
            }
            var total = LoadResult()
            for await partial in group {
                total.merge(partial)
            }
            return total
        }
        var measured = result
        measured.elapsed = min(clock.now, end) - measureFrom
        return measured
    }

    /// Open loop: calls are started on a fixed schedule of `rate` per second whether or
    /// not earlier ones have returned, and each latency is measured from the call's
    /// scheduled start, so a stalled server shows up in the figures instead of slowing
    /// the load down (no coordinated omission).
    public static func openLoop(
        rate: Double,
        warmup: Duration,
        duration: Duration,
        operation: @escaping Operation
    ) async -> LoadResult {
        precondition(rate > 0, "rate must be positive")
        let clock = ContinuousClock()
        let interval = Duration.seconds(1 / rate)
        let start = clock.now
        let measureFrom = start + warmup
        let end = measureFrom + duration
        let shared = ResultCollector()
        await withDiscardingTaskGroup { group in
            var scheduled = start
            var sequence = 0
            while scheduled < end {
                if scheduled > clock.now {
                    try? await Task.sleep(until: scheduled, tolerance: .zero, clock: clock)
                }
                // Start every call that is due, however late the dispatcher woke.
                let now = clock.now
                while scheduled <= now && scheduled < end {
                    let intended = scheduled
                    let index = sequence
                    group.addTask {
                        let measured = intended >= measureFrom
                        do {
                            try await operation(index, index)
                            let latency = clock.now - intended
                            if measured { shared.result.withLock { $0.record(latency) } }
                        } catch {
                            let latency = clock.now - intended
                            if measured { shared.result.withLock { $0.record(latency, error: error) } }
                        }
                    }
                    sequence += 1
                    scheduled += interval
                }
            }
        }
        var result = shared.result.withLock { $0 }
        result.elapsed = duration
        return result
    }
}

/// Results recorded by many concurrent calls.
private final class ResultCollector: Sendable {
    let result = Mutex(LoadResult())
}
