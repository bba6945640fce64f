import Synchronization

/// Whether a component can serve, and a feed of changes for watchers.
///
/// Backends report losing and regaining their store here; the gRPC health service
/// reads and watches it.
public final class HealthReporter: Sendable {
    /// A serving status.
    public enum Status: Hashable, Sendable {
        case serving
        case notServing(reason: String)

        public var isServing: Bool { self == .serving }
    }

    private struct State {
        var status: Status
        /// When the status last turned from serving to not serving.
        var notServingSince: UnixMilliseconds?
        var finished = false
        var watchers: [Int: AsyncStream<Status>.Continuation] = [:]
        var nextWatcher = 0
    }

    private let state: Mutex<State>

    public init(_ initial: Status = .serving) {
        self.state = Mutex(State(status: initial))
    }

    /// The current status.
    public var status: Status {
        self.state.withLock { $0.status }
    }

    /// Since when the component has not been serving (system time), nil while serving.
    public var notServingSince: UnixMilliseconds? {
        self.state.withLock { $0.status.isServing ? nil : $0.notServingSince }
    }

    /// Sets the status, notifying watchers when it changed. `since`: when the failed attempt
    /// that makes it not serving began (default: now); kept in system time.
    public func report(_ status: Status, since: ContinuousClock.Instant? = nil) {
        // Yielding under the lock keeps every watcher's view in the order of the reports.
        self.state.withLock { state in
            guard state.status != status else { return }
            if state.status.isServing || state.notServingSince == nil {
                state.notServingSince = status.isServing ? nil : Self.systemTime(of: since ?? .now)
            }
            state.status = status
            for watcher in state.watchers.values {
                watcher.yield(status)
            }
        }
    }

    /// The system time of an instant on the monotonic clock.
    private static func systemTime(of instant: ContinuousClock.Instant) -> UnixMilliseconds {
        UnixMilliseconds(SystemWallClock().now().rawValue - (ContinuousClock.now - instant).wholeMilliseconds)
    }

    /// Ends every feed after the status it last delivered; later feeds deliver the
    /// current status and end. Used when the component shuts down.
    public func finish() {
        let watchers = self.state.withLock { state in
            state.finished = true
            defer { state.watchers = [:] }
            return state.watchers.values
        }
        for watcher in watchers {
            watcher.finish()
        }
    }

    /// The current status, then every change, until ``Updates/stop()``, ``finish()``,
    /// or the consuming task's cancellation. A slow consumer sees the latest status, not
    /// every intermediate one.
    public func updates() -> Updates {
        let (stream, continuation) = AsyncStream.makeStream(of: Status.self, bufferingPolicy: .bufferingNewest(1))
        let id: Int? = self.state.withLock { state in
            continuation.yield(state.status)
            if state.finished {
                return nil
            }
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return Updates(stream: stream, continuation: continuation)
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
        }
        return Updates(stream: stream, continuation: continuation)
    }

    /// A feed of statuses.
    public struct Updates: AsyncSequence, Sendable {
        public typealias Element = Status
        fileprivate let stream: AsyncStream<Status>
        fileprivate let continuation: AsyncStream<Status>.Continuation

        public func makeAsyncIterator() -> AsyncStream<Status>.AsyncIterator {
            self.stream.makeAsyncIterator()
        }

        /// Ends this feed.
        public func stop() {
            self.continuation.finish()
        }
    }
}
