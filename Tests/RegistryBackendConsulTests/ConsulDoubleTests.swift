import Foundation
import RegistryTestKit
import Testing

/// The double against Consul's documented semantics, over real HTTP.
@Suite("Consul double")
struct ConsulDoubleTests {
    @Test("PUT with ?cas= writes only at the key's ModifyIndex, and cas=0 only creates")
    func putCAS() async throws {
        try await ConsulDouble.with { double in
            let http = RawHTTP(base: double.address)
            #expect(try await http.put("k", "one", query: "?cas=0").text == "true")
            #expect(try await http.put("k", "two", query: "?cas=0").text == "false")
            let first = try #require(try await http.get("k").entries.first)
            let created = try #require(first.index("CreateIndex"))
            let modified = try #require(first.index("ModifyIndex"))
            #expect(created == modified)
            #expect(first.decodedValue == "one")
            #expect(try await http.put("k", "two", query: "?cas=\(modified + 100)").text == "false")
            #expect(try await http.put("k", "two", query: "?cas=\(modified)").text == "true")
            let second = try #require(try await http.get("k").entries.first)
            #expect(second.decodedValue == "two")
            #expect(second.index("CreateIndex") == created)
            #expect(try #require(second.index("ModifyIndex")) > modified)
            // The old index is stale now.
            #expect(try await http.put("k", "three", query: "?cas=\(modified)").text == "false")
            // A missing key with a non-zero cas is not created.
            #expect(try await http.put("other", "x", query: "?cas=\(modified)").text == "false")
            #expect(try await http.get("other").status == 404)
        }
    }

    @Test("writing an identical value leaves ModifyIndex alone; deleting and writing again gives a new CreateIndex")
    func indexes() async throws {
        try await ConsulDouble.with { double in
            let http = RawHTTP(base: double.address)
            _ = try await http.put("k", "v")
            let before = try #require(try await http.get("k").entries.first)
            _ = try await http.put("k", "v")
            let after = try #require(try await http.get("k").entries.first)
            #expect(after.index("ModifyIndex") == before.index("ModifyIndex"))
            #expect(try await http.send(.DELETE, "/v1/kv/k").text == "true")
            _ = try await http.put("k", "v")
            let again = try #require(try await http.get("k").entries.first)
            #expect(try #require(again.index("CreateIndex")) > before.index("CreateIndex") ?? .max)
        }
    }

    @Test("DELETE with ?cas= deletes only at the ModifyIndex; ?recurse deletes a prefix")
    func deleteCAS() async throws {
        try await ConsulDouble.with { double in
            let http = RawHTTP(base: double.address)
            _ = try await http.put("a/1", "x")
            _ = try await http.put("a/2", "y")
            _ = try await http.put("b", "z")
            let index = try #require(try await http.get("a/1").entries.first?.index("ModifyIndex"))
            #expect(try await http.send(.DELETE, "/v1/kv/a/1?cas=0").text == "false")
            #expect(try await http.send(.DELETE, "/v1/kv/a/1?cas=\(index + 1)").text == "false")
            #expect(try await http.send(.DELETE, "/v1/kv/a/1?cas=\(index)").text == "true")
            #expect(try await http.get("a/1").status == 404)
            #expect(try await http.send(.DELETE, "/v1/kv/a?recurse").text == "true")
            #expect(try await http.get("a", query: "?recurse").status == 404)
            #expect(try await http.get("b").status == 200)
        }
    }

    @Test("?recurse and ?keys list a prefix in key order, and X-Consul-Index never goes back after a delete")
    func listing() async throws {
        try await ConsulDouble.with { double in
            let http = RawHTTP(base: double.address)
            for key in ["p/b", "p/a", "p/dir/x", "p/dir/y", "q"] {
                _ = try await http.put(key, key)
            }
            let listed = try await http.get("p/", query: "?recurse")
            #expect(listed.entries.map { $0["Key"] as? String } == ["p/a", "p/b", "p/dir/x", "p/dir/y"])
            #expect(listed.entries.map(\.decodedValue) == ["p/a", "p/b", "p/dir/x", "p/dir/y"])
            let keys = try await http.get("p/", query: "?keys")
            #expect(keys.json as? [String] == ["p/a", "p/b", "p/dir/x", "p/dir/y"])
            let folders = try await http.get("p/", query: "?keys&separator=/")
            #expect(folders.json as? [String] == ["p/a", "p/b", "p/dir/"])
            let before = try #require(listed.index)
            #expect(before == listed.entries.compactMap { $0.index("ModifyIndex") }.max())
            _ = try await http.send(.DELETE, "/v1/kv/p/dir/y")
            let after = try await http.get("p/", query: "?recurse")
            #expect(try #require(after.index) > before)
            #expect(try await http.get("nothing/", query: "?recurse").status == 404)
        }
    }

    @Test("a transaction is all or nothing and names every failing operation with 409")
    func transactionRollback() async throws {
        try await ConsulDouble.with { double in
            let http = RawHTTP(base: double.address)
            _ = try await http.put("t/existing", "old")
            let index = try #require(try await http.get("t/existing").entries.first?.index("ModifyIndex"))
            let failed = try await http.txn([
                ["Verb": "set", "Key": "t/new", "Value": RawHTTP.base64("new")],
                ["Verb": "cas", "Key": "t/existing", "Value": RawHTTP.base64("changed"), "Index": index + 5],
                ["Verb": "check-not-exists", "Key": "t/existing"],
                ["Verb": "delete-cas", "Key": "t/existing", "Index": index],
            ])
            #expect(failed.status == 409)
            #expect(failed.errors.compactMap { $0["OpIndex"] as? Int } == [1, 2])
            #expect(failed.errors.first?["What"] as? String == "failed to set key \"t/existing\", index is stale")
            // Nothing was applied: not the set before the failure, not the delete after it.
            #expect(try await http.get("t/new").status == 404)
            #expect(try await http.get("t/existing").entries.first?.decodedValue == "old")

            let checked = try await http.txn([
                ["Verb": "cas", "Key": "t/existing", "Value": RawHTTP.base64("changed"), "Index": index],
                ["Verb": "cas", "Key": "t/created", "Value": RawHTTP.base64("c"), "Index": 0],
                ["Verb": "check-index", "Key": "t/created", "Index": 0],
            ])
            // check-index sees the cas before it: the created key's index is the transaction's, not 0.
            #expect(checked.status == 409)
            #expect(checked.errors.compactMap { $0["OpIndex"] as? Int } == [2])
            let createdIndex = try await http.txn([
                ["Verb": "cas", "Key": "t/existing", "Value": RawHTTP.base64("changed"), "Index": index],
                ["Verb": "cas", "Key": "t/created", "Value": RawHTTP.base64("c"), "Index": 0],
            ])
            #expect(createdIndex.status == 200)
            let results = createdIndex.entries
            #expect(results.count == 2)
            #expect(results.allSatisfy { $0["Value"] is NSNull })  // writes return no values
            #expect(Set(results.compactMap { $0.index("ModifyIndex") }).count == 1)  // one Raft index
            #expect(try await http.get("t/created").entries.first?.decodedValue == "c")
        }
    }

    @Test("a transaction sees its own operations: delete then create gives the key a new CreateIndex")
    func transactionOrder() async throws {
        try await ConsulDouble.with { double in
            let http = RawHTTP(base: double.address)
            _ = try await http.put("r", "v1")
            let entry = try #require(try await http.get("r").entries.first)
            let index = try #require(entry.index("ModifyIndex"))
            let answer = try await http.txn([
                ["Verb": "delete-cas", "Key": "r", "Index": index],
                ["Verb": "cas", "Key": "r", "Value": RawHTTP.base64("v2"), "Index": 0],
            ])
            #expect(answer.status == 200)
            let recreated = try #require(answer.entries.first)
            #expect(try #require(recreated.index("CreateIndex")) > entry.index("CreateIndex") ?? .max)
        }
    }

    @Test("read-only transactions: get-or-empty answers missing keys with zero indexes; get fails on them")
    func readTransactions() async throws {
        try await ConsulDouble.with { double in
            let http = RawHTTP(base: double.address)
            _ = try await http.put("present", "p")
            let before = double.store.lastIndex
            let read = try await http.txn([["Verb": "get-or-empty", "Key": "present"], ["Verb": "get-or-empty", "Key": "absent"]])
            #expect(read.status == 200)
            #expect(read.entries.map(\.decodedValue) == ["p", nil])
            #expect(read.entries.last?.index("CreateIndex") == 0)
            #expect(double.store.lastIndex == before)  // reads take no index
            let failed = try await http.txn([["Verb": "get", "Key": "absent"]])
            #expect(failed.status == 409)
            #expect(failed.errors.first?["What"] as? String == "key \"absent\" doesn't exist")
        }
    }

    @Test("too many operations in one transaction is 413")
    func transactionSize() async throws {
        try await ConsulDouble.with { double in
            let http = RawHTTP(base: double.address)
            let operations = (0...64).map { ["Verb": "set", "Key": "k\($0)", "Value": RawHTTP.base64("v")] as [String: Any] }
            let answer = try await http.txn(operations)
            #expect(answer.status == 413)
            #expect(answer.text.contains("too many operations (65 > 64)"))
        }
    }

    @Test("tokens, datacenters and conflicting consistency modes are checked as Consul does")
    func requestChecks() async throws {
        try await ConsulDouble.with(requiredToken: "s3cret") { double in
            let http = RawHTTP(base: double.address)
            #expect(try await http.get("k").status == 403)
            let wrong = try await http.send(.GET, "/v1/kv/k", headers: [("X-Consul-Token", "nope")])
            #expect(wrong.status == 403)
            #expect(wrong.text == "ACL not found")
            let token = [("X-Consul-Token", "s3cret")]
            #expect(try await http.send(.GET, "/v1/kv/k", headers: token).status == 404)
            #expect(try await http.send(.GET, "/v1/kv/k?dc=dc1", headers: token).status == 404)
            let otherDC = try await http.send(.GET, "/v1/kv/k?dc=dc9", headers: token)
            #expect(otherDC.status == 500)
            #expect(otherDC.text == "No path to datacenter")
            #expect(try await http.send(.GET, "/v1/kv/k?stale&consistent", headers: token).status == 400)
            #expect(try await http.send(.GET, "/v1/kv/k?consistent", headers: token).status == 404)
        }
    }

    @Test("sessions expire at their TTL on the injected clock unless renewed; delete and release behaviours; lock delay")
    func sessions() async throws {
        let clock = ManualClock()
        try await ConsulDouble.with(clock: clock) { double in
            let http = RawHTTP(base: double.address)
            func create(_ fields: [String: Any]) async throws -> RawHTTP.Answer {
                try await http.send(.PUT, "/v1/session/create", body: try JSONSerialization.data(withJSONObject: fields))
            }
            #expect(try await create(["TTL": "5s"]).status == 400)
            let deleting = try #require((try await create(["TTL": "10s", "Behavior": "delete", "LockDelay": "2s"]).json as? [String: Any])?["ID"] as? String)
            let releasing = try #require((try await create(["TTL": "60s", "LockDelay": "0s"]).json as? [String: Any])?["ID"] as? String)

            #expect(try await http.put("k1", "a", query: "?acquire=\(deleting)").text == "true")
            #expect(try await http.put("k1", "b", query: "?acquire=\(releasing)").text == "false")
            #expect(try await http.put("k1", "c", query: "?acquire=\(deleting)").text == "true")
            let locked = try #require(try await http.get("k1").entries.first)
            #expect(locked["Session"] as? String == deleting)
            #expect(locked.index("LockIndex") == 1)  // the holder writing again does not count
            #expect(locked.decodedValue == "c")
            _ = try await http.put("k1", "plain write")
            #expect(try await http.get("k1").entries.first?["Session"] as? String == deleting)
            #expect(try await http.put("k2", "r", query: "?acquire=\(releasing)").text == "true")

            // Renewing restarts the TTL.
            clock.advance(by: .milliseconds(9_999))
            #expect(try await http.send(.PUT, "/v1/session/renew/\(deleting)").status == 200)
            clock.advance(by: .seconds(9))
            #expect(try await http.get("k1").status == 200)
            // Past the TTL the session is invalidated and, with Behavior=delete, its lock key goes.
            clock.advance(by: .seconds(1))
            #expect(try await http.get("k1").status == 404)
            #expect((try await http.send(.GET, "/v1/session/info/\(deleting)").json as? [Any])?.isEmpty == true)
            #expect(try await http.send(.PUT, "/v1/session/renew/\(deleting)").status == 404)
            // The lock delay keeps others out for 2s from the invalidation.
            #expect(try await http.put("k1", "r", query: "?acquire=\(releasing)").text == "false")
            clock.advance(by: .seconds(2))
            #expect(try await http.put("k1", "r", query: "?acquire=\(releasing)").text == "true")

            // Destroying a release-behaviour session unlocks its keys and keeps them.
            #expect(try await http.send(.PUT, "/v1/session/destroy/\(releasing)").text == "true")
            let released = try await http.get("", query: "?recurse").entries
            #expect(released.map { $0["Key"] as? String } == ["k1", "k2"])
            #expect(released.allSatisfy { $0["Session"] == nil })
            let invalid = try await http.put("k3", "x", query: "?acquire=\(releasing)")
            #expect(invalid.status == 500)
            #expect(invalid.text.contains("invalid session"))
        }
    }

    @Test("?release= unlocks only for the holding session")
    func release() async throws {
        try await ConsulDouble.with { double in
            let http = RawHTTP(base: double.address)
            let body = try JSONSerialization.data(withJSONObject: ["TTL": "30s"])
            let first = try #require((try await http.send(.PUT, "/v1/session/create", body: body).json as? [String: Any])?["ID"] as? String)
            let second = try #require((try await http.send(.PUT, "/v1/session/create", body: body).json as? [String: Any])?["ID"] as? String)
            #expect(try await http.put("lock", "x", query: "?acquire=\(first)").text == "true")
            #expect(try await http.put("lock", "x", query: "?release=\(second)").text == "false")
            #expect(try await http.put("lock", "x", query: "?release=\(first)").text == "true")
            #expect(try await http.put("lock", "y", query: "?acquire=\(second)").text == "true")
            #expect(try await http.get("lock").entries.first?.index("LockIndex") == 2)
        }
    }

    @Test("faults: 500, 429, no leader, stalls and refused connections, then recovery on the same port")
    func faults() async throws {
        try await ConsulDouble.with { double in
            let http = RawHTTP(base: double.address)
            #expect(try await http.send(.GET, "/v1/status/leader").json as? String == "127.0.0.1:8300")
            try await double.inject(.status(500))
            #expect(try await http.get("k").status == 500)
            try await double.inject(.status(429))
            #expect(try await http.get("k").status == 429)
            try await double.inject(.noLeader)
            #expect(try await http.send(.GET, "/v1/status/leader").json as? String == "")
            #expect(try await http.get("k").status == 500)
            try await double.inject(.stall)
            await #expect(throws: (any Error).self) { _ = try await http.send(.GET, "/v1/kv/k", timeout: .milliseconds(300)) }
            let port = double.port
            try await double.inject(.refuseConnections)
            await #expect(throws: (any Error).self) { _ = try await http.get("k") }
            try await double.inject(nil)
            #expect(double.port == port)
            #expect(try await http.get("k").status == 404)
        }
    }
}
