import RegistryCore

extension ConsulBackend {
    /// Most transactions of one call in flight at once: a sync of 10,000 agents is about
    /// 160 chunks, and sending them all at once would only queue them in the HTTP pool
    /// (64 connections, shared with every other call) and in Consul's Raft pipeline.
    static var maximumConcurrentTransactions: Int { 16 }

    /// Reads `keys` with `get-or-empty`, in read-only transactions of up to 64 operations
    /// run concurrently. Each transaction is one snapshot; different chunks may be read at
    /// different Consul indexes.
    /// - Returns: the entries of the keys that exist, by key.
    func readEntries(_ keys: [String], consistent: Bool = false) async throws -> [String: ConsulKVEntry] {
        let chunks = keys.chunked(into: Self.maximumTransactionOperations)
        let answers = try await self.concurrently(chunks) { chunk in
            let outcome = try await self.client.transaction(chunk.map { .getOrEmpty($0) }, consistent: consistent)
            guard case .applied(let entries) = outcome else {
                throw RegistryError.unavailable("\(self.client.storeName) rolled back a read-only transaction")
            }
            return entries
        }
        var entries: [String: ConsulKVEntry] = [:]
        entries.reserveCapacity(keys.count)
        for answer in answers {
            for entry in answer where entry.exists {
                entries[entry.key] = entry
            }
        }
        return entries
    }

    /// The relays named, decoded, from ``readEntries(_:consistent:)``; missing or unreadable
    /// ones are absent.
    func readRelays(_ ids: some Collection<RelayID>, consistent: Bool = false) async throws -> [RelayID: StoredRelay] {
        guard !ids.isEmpty else { return [:] }
        let entries = try await self.readEntries(ids.map { self.keys.relay($0) }, consistent: consistent)
        var relays: [RelayID: StoredRelay] = [:]
        for id in ids {
            if let entry = entries[self.keys.relay(id)], let relay = self.coder.relay(entry, id: id) {
                relays[id] = relay
            }
        }
        return relays
    }

    /// Runs `body` on every element, at most ``maximumConcurrentTransactions`` at once.
    /// - Returns: the results in the order of `elements`.
    func concurrently<Element: Sendable, Output: Sendable>(
        _ elements: [Element],
        _ body: @escaping @Sendable (Element) async throws -> Output
    ) async throws -> [Output] {
        if elements.count == 1 {
            return [try await body(elements[0])]
        }
        return try await withThrowingTaskGroup(of: (Int, Output).self) { group in
            var outputs: [Output?] = Array(repeating: nil, count: elements.count)
            var next = 0
            while next < min(Self.maximumConcurrentTransactions, elements.count) {
                let index = next
                group.addTask { (index, try await body(elements[index])) }
                next += 1
            }
            while let (index, output) = try await group.next() {
                outputs[index] = output
                if next < elements.count {
                    let index = next
                    group.addTask { (index, try await body(elements[index])) }
                    next += 1
                }
            }
            return outputs.compactMap { $0 }
        }
    }
}

extension Array {
    /// The elements in consecutive slices of at most `size`.
    func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: self.count, by: size).map { Array(self[$0..<Swift.min($0 + size, self.count)]) }
    }
}
