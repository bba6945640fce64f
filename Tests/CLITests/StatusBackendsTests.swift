import Foundation
import RegistryTestKit
import Testing

/// `registryctl status` against a registry on each remote backend, each on a real store
/// (redis-server, etcd) or, for Consul, the documented-protocol double.
extension CLITests {
    enum RemoteBackend: String, CaseIterable, Sendable {
        case redis, etcd, consul
    }

    /// Starts `backend`'s store, runs `body` with the server flags that use it, stops it.
    func withStore(_ backend: RemoteBackend, _ body: ([String]) async throws -> Void) async throws {
        switch backend {
        case .redis:
            let redis = try await RedisServer.start()
            do {
                try await body(["--backend", "redis", "--redis-addr", "127.0.0.1", "--redis-port", "\(redis.port)"])
            } catch {
                await redis.stop()
                throw error
            }
            await redis.stop()
        case .etcd:
            let etcd = try await EtcdFixture.start()
            do {
                try await body(["--backend", "etcd", "--etcd-endpoints", etcd.endpoints.joined(separator: ",")])
            } catch {
                await etcd.stop()
                throw error
            }
            await etcd.stop()
        case .consul:
            let consul = try await ConsulDouble.start()
            do {
                try await body(["--backend", "consul", "--consul-address", "http://127.0.0.1:\(consul.port)"])
            } catch {
                await consul.stop()
                throw error
            }
            await consul.stop()
        }
    }

    @Test("status names the backend and shows its store up, on every remote backend", arguments: RemoteBackend.allCases)
    func statusOnEveryBackend(_ backend: RemoteBackend) async throws {
        try await self.withStore(backend) { flags in
            let (server, port) = try await self.startServer(flags)
            defer { server.signal(SIGKILL) }
            // The store is up once a call has reached it.
            #expect(try await self.runCtl(port, ["register-relay", "relay-1", "--address", "10.0.0.1", "--port", "7000"]).status == 0)
            let json = try await self.runCtl(port, ["status", "--output", "json"])
            #expect(json.status == 0, "\(json.stderr)")
            let fields = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            let store = fields?["store"] as? [String: Any]
            #expect(store?["backend"] as? String == backend.rawValue)
            #expect(store?["up"] as? Bool == true)
            let table = try await self.runCtl(port, ["status"])
            #expect(table.stdout.contains("store         \(backend.rawValue), up"), "\(table.stdout)")
        }
    }
}
