@testable import RegistryBackendMemory
import Testing

@Suite("Expiry index")
struct ExpiryIndexTests {
    @Test("only keys whose whole bucket has passed are handed out, oldest first")
    func ordersByDeadline() {
        var index = ExpiryIndex<String>(granularity: 100)
        index.insert("late", deadline: 1_250)
        index.insert("early", deadline: 1_010)
        index.insert("middle", deadline: 1_120)
        #expect(index.removeExpired(now: 1_099, limit: 10) == [])
        #expect(index.removeExpired(now: 1_100, limit: 10) == ["early"])
        #expect(index.removeExpired(now: 1_300, limit: 10) == ["middle", "late"])
        #expect(index.count == 0)
    }

    @Test("a renewed key moves to its new deadline and is not handed out early")
    func updateMovesKeys() {
        var index = ExpiryIndex<String>(granularity: 100)
        index.insert("a", deadline: 1_000)
        index.insert("b", deadline: 1_000)
        index.update("a", from: 1_000, to: 5_000)
        #expect(index.removeExpired(now: 2_000, limit: 10) == ["b"])
        #expect(index.removeExpired(now: 4_999, limit: 10) == [])
        #expect(index.removeExpired(now: 5_100, limit: 10) == ["a"])
    }

    @Test("the limit bounds each call and the rest stays for the next")
    func respectsLimit() {
        var index = ExpiryIndex<Int>(granularity: 100)
        for key in 0..<25 {
            index.insert(key, deadline: 1_000 + Int64(key * 10))
        }
        var seen: [Int] = []
        while true {
            let batch = index.removeExpired(now: 10_000, limit: 4)
            #expect(batch.count <= 4)
            if batch.isEmpty { break }
            seen += batch
        }
        #expect(seen.sorted() == Array(0..<25))
    }

    @Test("removed keys are never handed out, even after their bucket empties and refills")
    func removeAndRefill() {
        var index = ExpiryIndex<String>(granularity: 100)
        index.insert("a", deadline: 1_000)
        index.remove("a", deadline: 1_000)
        index.insert("b", deadline: 1_050)
        #expect(index.removeExpired(now: 2_000, limit: 10) == ["b"])
        #expect(index.removeExpired(now: 3_000, limit: 10) == [])
    }

    @Test("negative deadlines bucket correctly")
    func negativeDeadlines() {
        var index = ExpiryIndex<String>(granularity: 100)
        index.insert("a", deadline: -150)
        #expect(index.removeExpired(now: -101, limit: 10) == [])
        #expect(index.removeExpired(now: -100, limit: 10) == ["a"])
    }
}
