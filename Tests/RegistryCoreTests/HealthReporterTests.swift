import RegistryCore
import Testing

@Suite("Health reporter")
struct HealthReporterTests {
    @Test("watchers get the current status, each change, and the end")
    func updates() async {
        let reporter = HealthReporter()
        let updates = reporter.updates()
        var iterator = updates.makeAsyncIterator()
        #expect(await iterator.next() == .serving)
        reporter.report(.notServing(reason: "down"))
        #expect(await iterator.next() == .notServing(reason: "down"))
        reporter.report(.notServing(reason: "down"))  // unchanged: not repeated
        reporter.report(.serving)
        #expect(await iterator.next() == .serving)
        reporter.finish()
        #expect(await iterator.next() == nil)
        // A watcher arriving after the end sees the last status, then the end.
        var late = reporter.updates().makeAsyncIterator()
        #expect(await late.next() == .serving)
        #expect(await late.next() == nil)
    }

    @Test("a slow watcher sees the latest status, not every intermediate one")
    func latestWins() async {
        let reporter = HealthReporter()
        var iterator = reporter.updates().makeAsyncIterator()
        reporter.report(.notServing(reason: "a"))
        reporter.report(.notServing(reason: "b"))
        #expect(await iterator.next() == .notServing(reason: "b"))
    }

    @Test("stopping one feed leaves the others running")
    func stop() async {
        let reporter = HealthReporter()
        let first = reporter.updates()
        let second = reporter.updates()
        first.stop()
        var firstIterator = first.makeAsyncIterator()
        var secondIterator = second.makeAsyncIterator()
        #expect(await firstIterator.next() == .serving)
        #expect(await firstIterator.next() == nil)
        #expect(await secondIterator.next() == .serving)
        reporter.report(.notServing(reason: "x"))
        #expect(await secondIterator.next() == .notServing(reason: "x"))
    }
}
