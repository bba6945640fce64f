import Foundation
import Logging
public import RegistryBackendConsul
public import RegistryCore

/// Fresh Consul backends on one manual clock: against a ``ConsulDouble`` started for each
/// backend, or against the real Consul at `CONSUL_HTTP_ADDR` under a random key prefix
/// that is deleted afterwards.
///
/// The backend judges liveness by its own clock and never by Consul's, so both run at
/// ``ClockPrecision/exact``: moving the manual clock is all a TTL needs, with a real Consul too.
public struct ConsulHarness: BackendHarness {
    enum Target: Sendable {
        case double(requiredToken: String?)
        case real(address: String, token: String?, caPath: String?)
    }

    public let clock: ManualClock
    let target: Target
    /// The store timeout of the backends made, when not Consul's default.
    public var timeout: Duration?

    /// Against a new ``ConsulDouble`` per backend.
    public static func double(clock: ManualClock = ManualClock(), requiredToken: String? = nil) -> ConsulHarness {
        ConsulHarness(clock: clock, target: .double(requiredToken: requiredToken))
    }

    /// Against the Consul at `CONSUL_HTTP_ADDR` (with `CONSUL_HTTP_TOKEN` and `CONSUL_CACERT`
    /// when set), or nil when the variable is not set.
    public static func realConsul(clock: ManualClock = ManualClock()) -> ConsulHarness? {
        guard let address = realConsulAddress else { return nil }
        let environment = ProcessInfo.processInfo.environment
        let token = environment["CONSUL_HTTP_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let caPath = environment["CONSUL_CACERT"].flatMap { $0.isEmpty ? nil : $0 }
        return Self.realConsul(address: address, token: token, caPath: caPath, clock: clock)
    }

    /// Against the Consul at `address`, each backend under a random prefix deleted afterwards.
    public static func realConsul(address: String, token: String? = nil, caPath: String? = nil, clock: ManualClock = ManualClock()) -> ConsulHarness {
        ConsulHarness(clock: clock, target: .real(address: address, token: token, caPath: caPath))
    }

    /// `CONSUL_HTTP_ADDR`, when set: the real Consul the suites also run against.
    public static var realConsulAddress: String? {
        ProcessInfo.processInfo.environment["CONSUL_HTTP_ADDR"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// What the backend under test is called in test names.
    public var name: String {
        switch self.target {
        case .double: "consul (double)"
        case .real(let address, _, _): "consul at \(address)"
        }
    }

    public var clockPrecision: ClockPrecision { .exact }

    public func withBackend<Result: Sendable>(
        ttl: TTLPolicy,
        limits: CapacityLimits,
        _ body: (any RegistryBackend) async throws -> Result
    ) async throws -> Result {
        switch self.target {
        case .double(let requiredToken):
            return try await ConsulDouble.with(requiredToken: requiredToken, clock: self.clock) { double in
                var configuration = try ConsulConfiguration(address: ConsulAddress(parsing: double.address), token: requiredToken)
                if let timeout = self.timeout {
                    configuration.timeout = timeout
                }
                return try await self.withBackend(configuration, ttl: ttl, limits: limits, cleanUp: false) { try await body($0) }
            }
        case .real(let address, let token, let caPath):
            let prefix = "aero-arc-registry-test/\(UUID().uuidString.lowercased())/"
            let configuration = try ConsulConfiguration(
                address: ConsulAddress(parsing: address), token: token, caPath: caPath, keyPrefix: prefix
            )
            return try await self.withBackend(configuration, ttl: ttl, limits: limits, cleanUp: true) { try await body($0) }
        }
    }

    /// A backend on this harness's clock with the given configuration; closed afterwards.
    public func withBackend<Result: Sendable>(
        _ configuration: ConsulConfiguration,
        ttl: TTLPolicy,
        limits: CapacityLimits = CapacityLimits(),
        cleanUp: Bool = false,
        _ body: (ConsulBackend<ManualClock>) async throws -> Result
    ) async throws -> Result {
        var logger = Logger(label: "consul-backend-test")
        logger.logLevel = .critical
        let backend = try ConsulBackend(configuration: configuration, ttl: ttl, limits: limits, clock: self.clock, logger: logger)
        let result: Result
        do {
            result = try await body(backend)
        } catch {
            if cleanUp { try? await backend.removeAllEntries() }
            await backend.close()
            throw error
        }
        if cleanUp { try await backend.removeAllEntries() }
        await backend.close()
        return result
    }

    public func advance(by duration: Duration) async throws {
        self.clock.advance(by: duration)
    }

    public func now() async throws -> UnixMilliseconds {
        self.clock.now()
    }
}
