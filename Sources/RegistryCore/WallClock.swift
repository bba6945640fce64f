#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(SwiftOverlayShims)
// Declares timespec on Linux; needed for its members under MemberImportVisibility.
import SwiftOverlayShims
#endif

/// A source of registry time.
///
/// Backends that keep time themselves take a clock, so tests can inject a
/// manual one and move time forward instead of sleeping.
public protocol WallClock: Sendable {
    /// The current time.
    func now() -> UnixMilliseconds
}

/// The machine's real-time clock.
public struct SystemWallClock: WallClock {
    public init() {}

    public func now() -> UnixMilliseconds {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UnixMilliseconds(Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}
