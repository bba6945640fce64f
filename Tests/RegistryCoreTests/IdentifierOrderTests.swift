import RegistryCore
import Testing

@Suite("Sorting by ID")
struct IdentifierOrderTests {
    /// What every list promises: ascending order of the IDs' UTF-8 bytes.
    private func byteOrder(_ ids: [String]) -> [String] {
        ids.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    @Test("lists sort in byte order, across the 16-byte key and past it")
    func matchesByteOrder() throws {
        var ids = [
            "relay-1", "relay-10", "relay-2", "relay", "r", "Relay-1", "~", " leading space",
            // Equal in their first 16 bytes, different after:
            "0123456789abcdef-b", "0123456789abcdef-a", "0123456789abcdef", "0123456789abcdeg",
            // Multi-byte UTF-8 (bytes of 0x80 and above must sort after ASCII):
            "é", "e\u{301}", "ドローン-1", "ドローン-2", "🚁", "z",
            String(repeating: "x", count: 256), String(repeating: "x", count: 255) + "a",
        ]
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab-/:é🚁0")
        for _ in 0..<2_000 {
            let length = Int.random(in: 1...24, using: &generator)
            ids.append(String((0..<length).map { _ in alphabet.randomElement(using: &generator) ?? "a" }))
        }
        // Distinct by bytes: a Set of Strings would merge "é" and "e\u{301}", two IDs.
        ids = Array(Set(ids.map { Array($0.utf8) })).map { String(decoding: $0, as: UTF8.self) }
        ids.shuffle(using: &generator)

        var agents = try ids.map { Agent(id: try AgentID(validating: $0), relayID: try RelayID(validating: "r"), lastHeartbeat: UnixMilliseconds(0)) }
        agents.sortByIdentifier(\.id)
        #expect(agents.map(\.id.rawValue) == self.byteOrder(ids))
    }

    @Test("empty and single-element lists are left as they are")
    func trivial() throws {
        var none: [Agent] = []
        none.sortByIdentifier(\.id)
        #expect(none.isEmpty)
        var one = [Agent(id: try AgentID(validating: "a"), relayID: try RelayID(validating: "r"), lastHeartbeat: UnixMilliseconds(1))]
        one.sortByIdentifier(\.id)
        #expect(one.map(\.id.rawValue) == ["a"])
    }
}
