import Foundation
import Logging
import RegistryBackendEtcd
import RegistryCore
import RegistryTestKit
import Testing

/// What the backend does that depends on etcd itself: leases, outages, authentication.
@Suite("etcd backend against a real etcd")
struct EtcdStoreBehaviourTests {
    static let logger: Logger = {
        var logger = Logger(label: "etcd-test")
        logger.logLevel = .critical
        return logger
    }()

    func relay(_ id: String) throws -> RelayRegistration {
        RelayRegistration(id: try RelayID(validating: id), endpoint: try RelayEndpoint(address: "10.0.0.1", grpcPort: 7000))
    }

    func configuration(_ etcd: EtcdFixture, prefix: String = "/aero-arc-test-\(UUID().uuidString)/") throws -> EtcdConfiguration {
        var configuration = try EtcdHarness(endpoints: etcd.endpoints).configuration(prefix: prefix)
        configuration.leaseGrace = .seconds(1)
        configuration.timeout = .seconds(5)  // generous: the whole suite shares two cores
        return configuration
    }

    /// Polls `condition` every 100 ms until it holds or `timeout` passes.
    func eventually(within timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    // What is under test is etcd's own lease expiry, which runs on etcd's real clock: this
    // test waits for it, with TTLs at the 1s minimum. Registry time stays on a manual clock,
    // so a slow machine cannot make a heartbeat miss its registry deadline.
    @Test("heartbeats keep leases alive; without any replica, etcd removes the entries by itself")
    func leasesExpireNatively() async throws {
        let etcd = try await SharedEtcd.instance.fixture()
        let configuration = try self.configuration(etcd)
        let prefix = configuration.keyPrefix
        let ttl = try TTLPolicy(relayTTL: .seconds(1), agentTTL: .seconds(1))
        let backend = try EtcdBackend(configuration: configuration, ttl: ttl, clock: ManualClock(), logger: Self.logger)
        try await withRunningService(backend) {
            _ = try await backend.registerRelay(try self.relay("relay-1"))
            _ = try await backend.registerAgent(try AgentID(validating: "drone-1"), on: try RelayID(validating: "relay-1"))
            // Leases are ceil(1s) + 1s = 2s; heartbeating for 3s shows keep-alives renew them.
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .seconds(3) {
                _ = try await backend.heartbeatRelay(try RelayID(validating: "relay-1"))
                _ = try await backend.heartbeatAgent(try AgentID(validating: "drone-1"), expectedRelayID: nil)
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(try await etcd.keyCount(prefix: prefix) == 2)
        }
        // No replica runs now: the leases lapse about 2s after the last renewal.
        let stoppedAt = ContinuousClock.now
        let gone = try await self.eventually(within: .seconds(8)) { try await etcd.keyCount(prefix: prefix) == 0 }
        #expect(gone, "entries still in etcd \(ContinuousClock.now - stoppedAt) after the last heartbeat")
        #expect(ContinuousClock.now - stoppedAt > .milliseconds(1_500), "leases must outlast the TTL")
    }

    @Test("with etcd down, calls fail UNAVAILABLE within the timeout and health is NOT_SERVING; it recovers by itself")
    func outageAndRecovery() async throws {
        let etcd = try await EtcdFixture.start()
        do {
            try await etcd.stop(member: 0)
            var configuration = try self.configuration(etcd)
            configuration.timeout = .milliseconds(800)
            let backend = try EtcdBackend(configuration: configuration, ttl: .default, logger: Self.logger)
            #expect(backend.health.status != .serving, "not serving before etcd was ever reached")
            try await withRunningService(backend) {
                let started = ContinuousClock.now
                let error = await #expect(throws: RegistryError.self) { try await backend.registerRelay(try self.relay("relay-1")) }
                // 800ms timeout; the bound leaves room for a loaded CI machine, not for a hang.
                #expect(ContinuousClock.now - started < .seconds(4))
                #expect(error?.code == .unavailable)
                #expect(error?.message.contains("etcd at \(etcd.members[0].endpoint)") == true, "\(String(describing: error))")
                #expect(backend.health.status != .serving)

                try await etcd.start(members: [0])
                let serving = try await self.eventually(within: .seconds(10)) { backend.health.status == .serving }
                #expect(serving)
                // A freshly restarted member can still be slow to grant the first lease on a
                // busy machine; the backend must get there without being restarted.
                let registered = try await self.eventually(within: .seconds(10)) {
                    (try? await backend.registerRelay(try self.relay("relay-1"))) != nil
                }
                #expect(registered)
                #expect(try await backend.listRelays().entries.map(\.id.rawValue) == ["relay-1"])
            }
        } catch {
            await etcd.stop()
            throw error
        }
        await etcd.stop()
    }

    @Test("with etcd authentication on, the backend signs in, signs in again when its token dies, and names a bad password")
    func authentication() async throws {
        let etcd = try await EtcdFixture.start()
        do {
            try await etcd.enableAuthentication(rootPassword: "s3cret")
            var configuration = try self.configuration(etcd)
            configuration.credentials = .init(username: "root", password: "s3cret")
            let backend = try EtcdBackend(configuration: configuration, ttl: .default, logger: Self.logger)
            try await withRunningService(backend) {
                _ = try await backend.registerRelay(try self.relay("relay-1"))
                // etcd keeps its tokens in memory: a restart invalidates the backend's.
                try await etcd.stop(member: 0)
                try await etcd.start(members: [0])
                #expect(try await backend.listRelays().entries.count == 1)
            }
            #expect(try await etcd.keyCount(prefix: configuration.keyPrefix, user: "root:s3cret") == 1)

            configuration.credentials = .init(username: "root", password: "wrong")
            let refused = try EtcdBackend(configuration: configuration, ttl: .default, logger: Self.logger)
            try await withRunningService(refused) {
                let error = await #expect(throws: RegistryError.self) { try await refused.listRelays() }
                #expect(error?.code == .unavailable)
                #expect(error?.message.contains("rejected user 'root'") == true, "\(String(describing: error))")
            }

            configuration.credentials = nil
            let anonymous = try EtcdBackend(configuration: configuration, ttl: .default, logger: Self.logger)
            try await withRunningService(anonymous) {
                let error = await #expect(throws: RegistryError.self) { try await anonymous.listRelays() }
                #expect(error?.code == .unavailable)
            }
        } catch {
            await etcd.stop()
            throw error
        }
        await etcd.stop()
    }
}

extension EtcdStoreBehaviourTests {
    @Test("over TLS with a client certificate the backend works; without one, or without TLS, it is UNAVAILABLE")
    func tls() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aero-arc-etcd-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificates = try await EtcdCertificates.make(in: directory)
        let etcd = try await EtcdFixture.start(tls: certificates)
        do {
            var configuration = try self.configuration(etcd)
            configuration.tls = .init(caPath: certificates.caPath, certificatePath: certificates.clientCertificatePath, keyPath: certificates.clientKeyPath)
            let backend = try EtcdBackend(configuration: configuration, ttl: .default, logger: Self.logger)
            try await withRunningService(backend) {
                _ = try await backend.registerRelay(try self.relay("relay-1"))
                #expect(try await backend.listRelays().entries.map(\.id.rawValue) == ["relay-1"])
            }

            for tls in [EtcdConfiguration.TLS(caPath: certificates.caPath), nil] {
                configuration.tls = tls
                configuration.timeout = .milliseconds(800)
                let refused = try EtcdBackend(configuration: configuration, ttl: .default, logger: Self.logger)
                try await withRunningService(refused) {
                    let error = await #expect(throws: RegistryError.self) { try await refused.listRelays() }
                    #expect(error?.code == .unavailable, "TLS \(String(describing: tls))")
                }
            }
        } catch {
            await etcd.stop()
            throw error
        }
        await etcd.stop()
    }
}
