public import RegistryCore
import Synchronization

/// A wall clock that only moves when a test moves it.
public final class ManualClock: WallClock {
    private let current: Mutex<Int64>

    /// Starts at `start` (by default a fixed, realistic instant: 2026-01-01T00:00:00Z).
    public init(start: UnixMilliseconds = UnixMilliseconds(1_767_225_600_000)) {
        self.current = Mutex(start.rawValue)
    }

    public func now() -> UnixMilliseconds {
        UnixMilliseconds(self.current.withLock { $0 })
    }

    /// Moves time forward (or, with a negative duration, backward).
    public func advance(by duration: Duration) {
        self.current.withLock { $0 += duration.wholeMilliseconds }
    }
}
