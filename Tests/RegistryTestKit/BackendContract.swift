import RegistryCore
public import Testing

/// One behaviour every ``RegistryBackend`` must have, runnable against any backend.
public struct BackendContractCase: Sendable, CustomTestStringConvertible {
    public let name: String
    /// The clock control the case needs.
    public let needs: ClockPrecision
    let body: @Sendable (any BackendHarness) async throws -> Void

    init(
        _ name: String,
        needs: ClockPrecision = .realTime,
        _ body: @escaping @Sendable (any BackendHarness) async throws -> Void
    ) {
        self.name = name
        self.needs = needs
        self.body = body
    }

    /// Runs the case against a backend from `harness`.
    public func run(_ harness: any BackendHarness) async throws {
        try await self.body(harness)
    }

    public var testDescription: String { self.name }
}

/// The backend contract: the semantics of docs/contract.md, written once against
/// ``RegistryBackend`` and run against every backend.
///
/// A backend's test target runs it with
/// `@Test(arguments: BackendContract.cases(for: .exact)) func contract(_ c: BackendContractCase)`.
public enum BackendContract {
    /// The cases a harness with the given clock precision can run.
    public static func cases(for precision: ClockPrecision) -> [BackendContractCase] {
        self.all.filter { $0.needs <= precision }
    }

    static let all: [BackendContractCase] =
        relayCases + agentCases + identifierCases + expiryCases + capacityCases + concurrencyCases + fleetCases + syncCountCases + adminCases
}

// MARK: - Helpers for the cases

/// The TTL unit the cases scale their times by: a whole relay TTL.
let unit: Duration = .seconds(2)
/// Relay and agent TTL of one unit.
let evenTTL = try! TTLPolicy(relayTTL: unit, agentTTL: unit)
/// Agents outlive their relay's TTL: shows relay expiry is what kills them.
let longAgentTTL = try! TTLPolicy(relayTTL: unit, agentTTL: unit * 3)

func relayID(_ raw: String) -> RelayID {
    try! RelayID(validating: raw)
}

func agentID(_ raw: String) -> AgentID {
    try! AgentID(validating: raw)
}

func registration(_ raw: String, port: Int = 7000, address: String = "10.0.0.1") -> RelayRegistration {
    RelayRegistration(id: relayID(raw), endpoint: try! RelayEndpoint(address: address, grpcPort: port))
}

/// Expects `body` to throw a ``RegistryError`` with `code`, and returns it.
@discardableResult
func expectRegistryError<T>(
    _ code: RegistryError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async -> RegistryError? {
    do {
        let value = try await body()
        Issue.record("expected a \(code) error, got \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as RegistryError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a RegistryError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

extension RegistryBackend {
    func relayIDs() async throws -> [String] {
        try await self.listRelays().entries.map(\.id.rawValue)
    }

    func agentIDs() async throws -> [String] {
        try await self.listAgents().entries.map(\.id.rawValue)
    }
}
