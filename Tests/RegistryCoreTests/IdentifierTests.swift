import RegistryCore
import Testing

@Suite("IDs and endpoints")
struct IdentifierTests {
    @Test("valid IDs are accepted as they are", arguments: [
        "relay-1", "with:colon", "a/b", "*", "with space", "{tag}", "ドローン", "🚁", String(repeating: "x", count: 256),
        String(repeating: "é", count: 128),
    ])
    func valid(_ raw: String) throws {
        let id = try RelayID(validating: raw)
        #expect(Array(id.rawValue.utf8) == Array(raw.utf8))
    }

    @Test("invalid IDs are rejected with a message naming the field", arguments: [
        ("", "must not be empty"),
        (String(repeating: "x", count: 257), "is 257 bytes long; the limit is 256 bytes"),
        (String(repeating: "é", count: 129), "is 258 bytes long"),
        ("a\u{0}b", "control characters (found U+0000)"),
        ("a\nb", "control characters (found U+000A)"),
        ("a\u{7F}", "control characters (found U+007F)"),
        ("a\u{9F}", "control characters (found U+009F)"),
    ])
    func invalid(_ raw: String, _ reason: String) {
        #expect {
            try AgentID(validating: raw, field: "agent.agent_id")
        } throws: { error in
            guard let error = error as? RegistryError else { return false }
            return error.code == .invalidArgument && error.message.hasPrefix("agent.agent_id ") && error.message.contains(reason)
        }
    }

    @Test("IDs compare, hash and sort by their UTF-8 bytes")
    func byteSemantics() throws {
        let decomposed = try AgentID(validating: "e\u{301}")
        let precomposed = try AgentID(validating: "\u{e9}")
        #expect("e\u{301}" == "\u{e9}")  // Swift strings call them equal...
        #expect(decomposed != precomposed)  // ...IDs must not.
        #expect(Set([decomposed, precomposed]).count == 2)
        let sorted = try ["b", "B", "a", "ab", "\u{e9}", "e\u{301}"].map { try AgentID(validating: $0) }.sorted()
        #expect(sorted.map(\.rawValue).map { Array($0.utf8) } == [[66], [97], [97, 98], [98], [101, 204, 129], [195, 169]])
    }

    @Test("endpoints reject empty, long, spaced and out-of-range values")
    func endpoints() throws {
        #expect(try RelayEndpoint(address: "relay.example", grpcPort: 1).description == "relay.example:1")
        #expect(try RelayEndpoint(address: "::1", grpcPort: 65535).description == "[::1]:65535")
        for (address, port, field) in [("", 1, "address"), ("a b", 1, "address"), ("a\u{2003}b", 1, "address"), (String(repeating: "a", count: 256), 1, "address"), ("a", 0, "grpc_port"), ("a", 65536, "grpc_port")] {
            #expect {
                try RelayEndpoint(address: address, grpcPort: port)
            } throws: { error in
                (error as? RegistryError)?.message.hasPrefix(field + " ") == true
            }
        }
    }

    @Test("TTLs must lie between 1s and 24h")
    func ttlRange() throws {
        _ = try TTLPolicy(relayTTL: .seconds(1), agentTTL: .seconds(86_400))
        #expect(throws: RegistryError.self) { try TTLPolicy(relayTTL: .milliseconds(999)) }
        #expect(throws: RegistryError.self) { try TTLPolicy(agentTTL: .seconds(86_401)) }
    }
}

@Suite("Control character scan")
struct ControlCharacterTests {
    @Test("the byte scan agrees with Unicode's Cc category for every scalar up to U+07FF and a sample beyond")
    func agreesWithUnicode() {
        let scalars = (0...0x7FF).compactMap(Unicode.Scalar.init) + [0x2003, 0x200B, 0xFEFF, 0x1F681, 0x10FFFF].compactMap(Unicode.Scalar.init)
        for scalar in scalars {
            let text = "a" + String(Character(scalar)) + "b"
            let expected = scalar.properties.generalCategory == .control
            let found = (try? AgentID(validating: text)) == nil
            #expect(found == expected, "U+\(String(scalar.value, radix: 16))")
        }
    }
}
