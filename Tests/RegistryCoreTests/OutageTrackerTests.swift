import RegistryCore
import Synchronization
import Testing

@Suite("Outage tracker")
struct OutageTrackerTests {
    struct StoreDown: Error {}

    @Test("no failure, no outage: the grace step never runs")
    func quiet() async throws {
        let tracker = OutageTracker()
        let ended = try await tracker.beforeOperation { _ in
            Issue.record("grace applied without an outage")
            return .zero
        }
        #expect(ended == nil)
        #expect(!tracker.isOpen)
    }

    @Test("the outage starts at the earliest failed attempt, and concurrent callers share one grace step")
    func singleFlight() async throws {
        let tracker = OutageTracker()
        let start = ContinuousClock.now - .seconds(7)
        tracker.recordFailure(startedAt: start + .seconds(1))
        tracker.recordFailure(startedAt: start)
        let runs = Counter()
        let results = try await withThrowingTaskGroup(of: OutageTracker.Ended?.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await tracker.beforeOperation { since in
                        runs.increment()
                        #expect(since == start, "the earliest failure")
                        try await Task.sleep(for: .milliseconds(50))
                        return min(ContinuousClock.now - since, .seconds(3))
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.value == 1)
        let ended = try #require(results.compactMap { $0 }.first)
        #expect(ended.length >= .seconds(7), "measured from the earliest failure")
        #expect(ended.grace == .seconds(3))
        #expect(!tracker.isOpen)
    }

    @Test("a failed grace step keeps the outage open, from its original start")
    func failedStepKeepsOutage() async throws {
        let tracker = OutageTracker()
        let start = ContinuousClock.now - .seconds(2)
        tracker.recordFailure(startedAt: start)
        await #expect(throws: StoreDown.self) {
            try await tracker.beforeOperation { _ in
                tracker.recordFailure(startedAt: .now)
                throw StoreDown()
            }
        }
        #expect(tracker.openSince == start)
        let ended = try await tracker.beforeOperation { since in
            #expect(since == start)
            return .zero
        }
        #expect((ended?.length ?? .zero) >= .seconds(2))
        #expect(!tracker.isOpen)
    }
}

private final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { self.count.withLock { $0 += 1 } }
    var value: Int { self.count.withLock { $0 } }
}
