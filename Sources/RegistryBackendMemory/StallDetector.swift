/// A clock that only moves forward, read in nanoseconds from an arbitrary origin.
///
/// The memory backend measures its own stalls on it; tests inject a manual one and
/// move it instead of sleeping.
public protocol MonotonicClockSource: Sendable {
    /// Nanoseconds since an origin fixed for the life of this source; never decreases.
    func nowNanoseconds() -> UInt64
}

/// The machine's monotonic clock, including time spent suspended (Swift's `ContinuousClock`),
/// so that a paused VM or a suspended machine counts as a stall.
public struct SystemMonotonicClock: MonotonicClockSource {
    private let origin: ContinuousClock.Instant

    public init() {
        self.origin = ContinuousClock.now
    }

    public func nowNanoseconds() -> UInt64 {
        let (seconds, attoseconds) = self.origin.duration(to: ContinuousClock.now).components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}

/// Notices when this process could not run: a gap of more than ``thresholdNanoseconds`` on
/// the monotonic clock between two consecutive observations.
///
/// A pure value fed with readings of both clocks: the ticker in ``MemoryBackend/run()``
/// and every request observe. It reports stalls only while armed, which the ticker does
/// on its first tick and undoes when it stops: without a running ticker a long gap only
/// means that nobody asked, and a quiet fleet is not an outage.
struct StallDetector {
    /// A stretch of time during which the process did not run.
    struct Stall: Equatable {
        /// The gap on the monotonic clock, in nanoseconds.
        var lengthNanoseconds: UInt64
        /// The wall-clock time (milliseconds since the Unix epoch) of the last observation
        /// before the gap.
        var startedAt: Int64
    }

    /// Longest gap between two observations that is not a stall, in nanoseconds.
    let thresholdNanoseconds: UInt64
    /// Whether the ticker is running, so that gaps mean the process did not run.
    private(set) var isArmed = false
    private var lastMonotonic: UInt64 = 0
    private var lastWall: Int64 = 0

    init(threshold: Duration) {
        self.thresholdNanoseconds = threshold.wholeNanoseconds
    }

    /// Starts judging gaps from this observation on (the ticker's first tick).
    mutating func arm(monotonic: UInt64, wall: Int64) {
        self.isArmed = true
        self.lastMonotonic = monotonic
        self.lastWall = wall
    }

    /// Stops judging gaps (the ticker stopped).
    mutating func disarm() {
        self.isArmed = false
    }

    /// Records an observation; returns the stall that ended with it, if any. Each stall is
    /// reported once, by the first observation after it.
    mutating func observe(monotonic: UInt64, wall: Int64) -> Stall? {
        guard self.isArmed else { return nil }
        // Readings taken by concurrent callers may arrive slightly out of order.
        let gap = monotonic > self.lastMonotonic ? monotonic - self.lastMonotonic : 0
        let stall = gap > self.thresholdNanoseconds ? Stall(lengthNanoseconds: gap, startedAt: self.lastWall) : nil
        self.lastMonotonic = max(self.lastMonotonic, monotonic)
        self.lastWall = wall
        return stall
    }
}

extension Duration {
    /// The duration in whole nanoseconds, zero when negative, saturating when huge.
    var wholeNanoseconds: UInt64 {
        let (seconds, attoseconds) = self.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .max }
        let (total, overflowAdding) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return overflowAdding ? .max : total
    }
}
