@testable import RegistryBackendRedis
import RegistryCore
import Testing

@Suite("Redis key schema")
struct RedisKeySchemaTests {
    static let awkwardIDs = [
        "plain", "with:colon", "with/slash", "with*star", "with space", "{hash-tag}", "a", "a/b", "a:b", "e\u{301}", "\u{e9}",
        "ドローン", "🚁", "%2F", "..", "\\", "\"quoted\"", "relay:x", "agents", String(repeating: "x", count: 256),
    ]

    @Test("every key is in one versioned namespace with one hash tag, after the prefix")
    func namespace() throws {
        let schema = try RedisKeySchema(prefix: "staging:")
        #expect(schema.root == "staging:{aero-arc-registry}:v1:")
        let relay = try RelayID(validating: "relay-1")
        let agent = try AgentID(validating: "drone-7")
        let keys = [
            schema.relayKey(relay), schema.agentKey(agent), schema.relayAgentsKey(relay), schema.relaysIndex, schema.agentsIndex, schema.incarnations,
            schema.relaysByIDIndex, schema.agentsByIDIndex, schema.relayAgentsByIDKey(relay),
        ]
        for key in keys {
            #expect(key.hasPrefix(schema.root))
            // The hash tag is the first {...}: the same for every key, so one slot holds them all.
            #expect(key.split(separator: "{", maxSplits: 1)[1].prefix { $0 != "}" } == "aero-arc-registry")
        }
        #expect(schema.relayKey(relay) == "staging:{aero-arc-registry}:v1:relay:cmVsYXktMQ")
        #expect(Set(keys).count == keys.count)
    }

    @Test("any valid ID gets its own key, made of safe characters only")
    func awkwardIDs() throws {
        let schema = try RedisKeySchema()
        var seen: Set<String> = []
        for raw in Self.awkwardIDs {
            let key = schema.relayKey(try RelayID(validating: raw))
            let encoded = key.dropFirst(schema.root.count + "relay:".count)
            #expect(encoded.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }, "\(raw)")
            #expect(seen.insert(key).inserted, "\(raw) collides")
            #expect(RedisKeySchema.relayID(String(encoded)) == (try RelayID(validating: raw)))
            #expect(RedisKeySchema.agentID(String(encoded)).map { Array($0.rawValue.utf8) } == Array(raw.utf8))
        }
    }

    @Test("ordered members sort as the IDs' UTF-8 bytes, a prefix first, and name the encoded ID")
    func orderedMembers() throws {
        let ids = try Self.awkwardIDs.map { try AgentID(validating: $0) }
        let byMember = ids.sorted { Array(RedisKeySchema.orderedMember($0).utf8).lexicographicallyPrecedes(Array(RedisKeySchema.orderedMember($1).utf8)) }
        #expect(byMember == ids.sorted())
        for id in ids {
            #expect(RedisKeySchema.orderedMember(id) == id.rawValue + "\u{0}" + RedisKeySchema.encode(id))
            // The paging start lies above the ID's own member and below every greater ID's.
            let start = Array(RedisKeySchema.orderedStart(after: id).utf8.dropFirst())
            for other in ids {
                let member = Array(RedisKeySchema.orderedMember(other).utf8)
                #expect(start.lexicographicallyPrecedes(member) == (id < other), "\(id) \(other)")
            }
        }
    }

    @Test("base64url round-trips every byte string and rejects non-canonical text")
    func base64url() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let encoded = Base64URL.encode(bytes)
            #expect(!encoded.contains("="))
            #expect(Base64URL.decode(encoded) == bytes)
        }
        #expect(Base64URL.encode(Array("\u{FB}\u{FF}".utf8)) == "w7vDvw")
        #expect(Base64URL.decode("A") == nil)  // impossible length
        #expect(Base64URL.decode("AR") == nil)  // leftover bits set: "AQ" is the canonical form
        #expect(Base64URL.decode("AQ") == [1])
        #expect(Base64URL.decode("a+b/") == nil)  // standard base64, not base64url
        #expect(Base64URL.decode("a=") == nil)
    }

    @Test("prefixes that would break the namespace are refused, naming the problem")
    func prefixes() {
        for bad in ["a{b", "}", "with space", "tab\t", String(repeating: "p", count: 129)] {
            #expect(throws: RegistryError.self) { try RedisKeySchema(prefix: bad) }
        }
        #expect((try? RedisKeySchema(prefix: "team-a:"))?.prefix == "team-a:")
        #expect((try? RedisKeySchema(prefix: ""))?.root == "{aero-arc-registry}:v1:")
    }
}
