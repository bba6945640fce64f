@testable import RegistryBackendEtcd
import RegistryCore
import Testing

@Suite("etcd keys and values")
struct EtcdKeySchemaTests {
    let schema = EtcdKeySchema(prefix: "/aero-arc-registry/v1/")
    let ids = ["a", "a/b", "a:b", "ab", "B", "\u{e9}", "e\u{301}", "🚁", "with space", "..", "%2F", String(repeating: "x", count: 256)]

    @Test("keys keep every ID apart, round-trip it, and sort as its bytes do")
    func keys() throws {
        let relayIDs = try ids.map { try RelayID(validating: $0) }
        let keys = relayIDs.map(schema.key(of:))
        #expect(Set(keys).count == ids.count)
        for (id, key) in zip(relayIDs, keys) {
            #expect(key.starts(with: Array("/aero-arc-registry/v1/relays/".utf8)))
            #expect(key.allSatisfy { (0x21...0x7e).contains($0) }, "printable ASCII: \(id)")
            #expect(schema.relayID(fromKey: key) == id)
            #expect(schema.agentID(fromKey: key) == nil)
        }
        let byKey = zip(relayIDs, keys).sorted { $0.1.lexicographicallyPrecedes($1.1) }.map(\.0)
        #expect(byKey == relayIDs.sorted())
        let agent = try AgentID(validating: "a/b")
        #expect(schema.agentID(fromKey: schema.key(of: agent)) == agent)
    }

    @Test("the range end of a prefix covers exactly the keys starting with it")
    func rangeEnd() {
        #expect(EtcdKeySchema.rangeEnd(ofPrefix: Array("/a/".utf8)) == Array("/a0".utf8))
        #expect(EtcdKeySchema.rangeEnd(ofPrefix: [0x61, 0xff]) == [0x62])
        #expect(EtcdKeySchema.rangeEnd(ofPrefix: [0xff, 0xff]) == [0])
    }

    @Test("malformed keys and values are not mistaken for entries")
    func malformed() {
        #expect(schema.relayID(fromKey: Array("/aero-arc-registry/v1/relays/6".utf8)) == nil)
        #expect(schema.relayID(fromKey: Array("/aero-arc-registry/v1/relays/ZZ".utf8)) == nil)
        #expect(schema.relayID(fromKey: Array("/aero-arc-registry/v1/relays/".utf8)) == nil)  // empty ID
        #expect(schema.relayID(fromKey: Array("/aero-arc-registry/v1/relays/07".utf8)) == nil)  // control character
        #expect(RelayRecord(decoding: Array("garbage".utf8)) == nil)
        #expect(AgentRecord(decoding: Array("1 2 3".utf8)) == nil)
        #expect(RelayRecord(decoding: Array("0000000000000010 5 70000 host".utf8)) == nil)  // port out of range
    }

    @Test("records round-trip, IDs and addresses with spaces included")
    func records() throws {
        let relay = RelayRecord(deadline: 1_767_225_602_000, lastHeartbeat: 1_767_225_600_000, endpoint: try RelayEndpoint(address: "relay.example", grpcPort: 7000))
        #expect(RelayRecord(decoding: relay.encoded()) == relay)
        let agent = AgentRecord(deadline: 5, lastHeartbeat: 3, relayIncarnation: 42, relayID: try RelayID(validating: "relay with spaces 🚁"))
        #expect(AgentRecord(decoding: agent.encoded()) == agent)
        #expect(String(decoding: agent.encoded(), as: UTF8.self) == "0000000000000005 3 42 relay with spaces 🚁")
    }

    @Test("a stored value compares greater than liveAt(now) exactly while its deadline is after now")
    func deadlineComparison() throws {
        let endpoint = try RelayEndpoint(address: "h", grpcPort: 1)
        for deadline: Int64 in [0, 9, 10, 11, 999, 1_000, 1_767_225_602_000] {
            let value = RelayRecord(deadline: deadline, lastHeartbeat: 0, endpoint: endpoint).encoded()
            for now in [deadline - 1_000, deadline - 1, deadline, deadline + 1, deadline + 1_000] where now >= 0 {
                let greater = DeadlineEncoding.liveAt(now).lexicographicallyPrecedes(value)
                #expect(greater == (now < deadline), "deadline \(deadline), now \(now)")
            }
        }
    }

    @Test("leases cover the TTL rounded up to whole seconds, plus the grace")
    func leaseSeconds() {
        #expect(EtcdBackend<SystemWallClock>.leaseSeconds(.seconds(1), grace: .seconds(1)) == 2)
        #expect(EtcdBackend<SystemWallClock>.leaseSeconds(.milliseconds(1_500), grace: .seconds(1)) == 3)
        #expect(EtcdBackend<SystemWallClock>.leaseSeconds(.seconds(30), grace: .milliseconds(200)) == 31)
    }

    @Test("endpoints parse with or without a scheme, IPv6 in brackets, port defaulting to 2379")
    func endpoints() throws {
        #expect(try EtcdEndpoint.parse("127.0.0.1:2379") == (EtcdEndpoint(host: "127.0.0.1", port: 2379), nil))
        let https = try EtcdEndpoint.parse("https://etcd-0.internal:2379/")
        #expect(https.endpoint == EtcdEndpoint(host: "etcd-0.internal", port: 2379) && https.tls == true)
        #expect(try EtcdEndpoint.parse("http://[::1]:23790").endpoint == EtcdEndpoint(host: "::1", port: 23790))
        #expect(try EtcdEndpoint.parse("etcd").endpoint == EtcdEndpoint(host: "etcd", port: 2379))
        for bad in ["", "::1:2379", "host:0", "host:http", "unix://x", "[::1", "http://"] {
            #expect(throws: RegistryError.self, "\(bad)") { try EtcdEndpoint.parse(bad) }
        }
    }
}
