public import Testing

/// A backend the end-to-end suites run against, by name.
public struct TestBackend: Sendable, CustomTestStringConvertible {
    public let name: String
    /// Makes a harness for one test; remote backends start (or reuse) their store here.
    public let makeHarness: @Sendable () async throws -> any BackendHarness

    public init(name: String, makeHarness: @escaping @Sendable () async throws -> any BackendHarness) {
        self.name = name
        self.makeHarness = makeHarness
    }

    public var testDescription: String { self.name }
}

/// Every backend the suites run against. Each backend lists its harnesses in its own
/// `TestBackends+<Name>.swift`.
public enum TestBackends {
    public static let memory = TestBackend(name: "memory") { MemoryHarness() }

    public static var all: [TestBackend] {
        [memory] + redis + etcd + consul
    }

    /// Every backend, for bursts of a thousand calls at once (etcd and the Consul double
    /// with a longer store timeout: see ``etcdForBursts`` and ``consulForBursts``).
    public static var forBursts: [TestBackend] {
        [memory] + redis + etcdForBursts + consulForBursts
    }
}
