import NIOCore
@testable import RESP
import Testing

@Suite("Connection and pool state machines")
struct StateMachineTests {
    typealias Connection = RESPChannelHandler.StateMachine<String>

    @Test("replies complete requests in the order they were written")
    func inOrder() {
        var machine = Connection()
        let start = NIODeadline.uptimeNanoseconds(1_000)
        guard case .write(let armed) = machine.send(["a", "b"], deadline: start + .seconds(2)) else {
            Issue.record("expected a write")
            return
        }
        #expect(armed == start + .seconds(2))
        guard case .write(nil) = machine.send(["c"], deadline: start + .seconds(3)) else {
            Issue.record("a second write must not arm another timer")
            return
        }
        for expected in ["a", "b", "c"] {
            guard case .succeed(let waiter) = machine.received() else {
                Issue.record("expected a waiter")
                return
            }
            #expect(waiter == expected)
        }
        #expect(machine.pendingCount == 0)
    }

    @Test("the timer re-arms for the oldest request and fails everything once it is late")
    func timeout() {
        var machine = Connection()
        let start = NIODeadline.uptimeNanoseconds(1_000_000)
        _ = machine.send(["a"], deadline: start + .seconds(2))
        _ = machine.send(["b"], deadline: start + .seconds(3))
        _ = machine.received()  // a answered in time
        let error = RESPError(.timeout, "late")
        guard case .arm(let next) = machine.timerFired(now: start + .seconds(2), timeoutError: error) else {
            Issue.record("expected the timer to re-arm for b")
            return
        }
        #expect(next == start + .seconds(3))
        guard case .closeAndFail(let failed, let reason) = machine.timerFired(now: start + .seconds(3), timeoutError: error) else {
            Issue.record("expected b to time out")
            return
        }
        #expect(failed == ["b"])
        #expect(reason.code == .timeout)
        guard case .fail(let later) = machine.send(["c"], deadline: start + .seconds(9)) else {
            Issue.record("a closed connection must refuse requests")
            return
        }
        #expect(later.code == .timeout)
    }

    @Test("a timer with nothing pending does nothing; the next request arms a new one")
    func idleTimer() {
        var machine = Connection()
        let start = NIODeadline.uptimeNanoseconds(5)
        _ = machine.send(["a"], deadline: start + .seconds(1))
        _ = machine.received()
        guard case .none = machine.timerFired(now: start + .seconds(1), timeoutError: RESPError(.timeout, "")) else {
            Issue.record("expected nothing to do")
            return
        }
        guard case .write(.some) = machine.send(["b"], deadline: start + .seconds(5)) else {
            Issue.record("expected a new timer")
            return
        }
    }

    @Test("a reply nobody asked for closes the connection; closing fails what is pending once")
    func unsolicitedAndClose() {
        var machine = Connection()
        guard case .closeAndFail(let none, let error) = machine.received() else {
            Issue.record("expected a protocol violation")
            return
        }
        #expect(none.isEmpty)
        #expect(error.code == .protocolViolation)

        var other = Connection()
        _ = other.send(["a", "b"], deadline: .uptimeNanoseconds(10))
        let (failed, reason) = other.close(RESPError(.connectionClosed, "gone"))
        #expect(failed == ["a", "b"])
        #expect(reason.code == .connectionClosed)
        #expect(other.close(RESPError(.timeout, "again")).waiters.isEmpty)
        guard case .ignore = other.received() else {
            Issue.record("a late reply after closing is dropped")
            return
        }
    }

    typealias Pool = RESPConnectionPool.StateMachine<String, Int>

    @Test("the pool opens each slot once, shares an attempt in flight, then reuses the connection")
    func poolLeases() {
        var pool = Pool(size: 2, backoff: ReconnectBackoff(), peer: "redis at test:1")
        let now = NIODeadline.uptimeNanoseconds(1_000)
        var attempts = 0
        let makeAttempt = { () -> Int in
            attempts += 1
            return attempts
        }
        guard case .connect(slot: 0) = pool.lease(now: now, isOpen: { _ in true }, makeAttempt: makeAttempt) else {
            Issue.record("expected to open slot 0")
            return
        }
        guard case .connect(slot: 1) = pool.lease(now: now, isOpen: { _ in true }, makeAttempt: makeAttempt) else {
            Issue.record("expected to open slot 1")
            return
        }
        guard case .wait(1) = pool.lease(now: now, isOpen: { _ in true }, makeAttempt: makeAttempt) else {
            Issue.record("expected to wait for slot 0's attempt")
            return
        }
        #expect(pool.connected(slot: 0, "c0").attempt == 1)
        #expect(pool.connected(slot: 1, "c1").attempt == 2)
        // Round-robin: the third request went to slot 0, so slot 1 is next.
        guard case .use("c1") = pool.lease(now: now, isOpen: { _ in true }, makeAttempt: makeAttempt),
            case .use("c0") = pool.lease(now: now, isOpen: { _ in true }, makeAttempt: makeAttempt)
        else {
            Issue.record("expected both connections in turn")
            return
        }
        // A closed connection is replaced.
        guard case .connect(slot: 1) = pool.lease(now: now, isOpen: { $0 != "c1" }, makeAttempt: makeAttempt) else {
            Issue.record("expected to reopen slot 1")
            return
        }
        #expect(attempts == 3)
    }

    @Test("after a failed attempt the pool fails fast until the backoff delay has passed")
    func poolBackoff() {
        var pool = Pool(size: 1, backoff: ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0), peer: "redis at test:1")
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        _ = pool.lease(now: start, isOpen: { _ in true }, makeAttempt: { 0 })
        let refused = RESPError(.connectFailed, "cannot connect to redis at test:1: refused")
        #expect(pool.connectFailed(slot: 0, refused, now: start, random: 0.5).delay == .milliseconds(100))
        guard case .fail(let error) = pool.lease(now: start + .milliseconds(50), isOpen: { _ in true }, makeAttempt: { 0 }) else {
            Issue.record("expected to fail fast while backing off")
            return
        }
        #expect(error.code == .backingOff)
        #expect(error.message.hasPrefix("cannot connect to redis at test:1: refused; next attempt in"))
        guard case .connect = pool.lease(now: start + .milliseconds(100), isOpen: { _ in true }, makeAttempt: { 0 }) else {
            Issue.record("expected a new attempt after the delay")
            return
        }
        #expect(pool.connectFailed(slot: 0, refused, now: start + .milliseconds(100), random: 0).delay == .milliseconds(200))
        _ = pool.lease(now: start + .seconds(1), isOpen: { _ in true }, makeAttempt: { 0 })
        _ = pool.connected(slot: 0, "c")
        #expect(pool.consecutiveFailures == 0)
    }

    @Test("a closed pool refuses requests and hands back its connections")
    func poolClose() {
        var pool = Pool(size: 2, backoff: ReconnectBackoff(), peer: "redis at test:1")
        _ = pool.lease(now: .uptimeNanoseconds(0), isOpen: { _ in true }, makeAttempt: { 0 })
        _ = pool.connected(slot: 0, "c0")
        _ = pool.lease(now: .uptimeNanoseconds(0), isOpen: { _ in true }, makeAttempt: { 1 })
        #expect(pool.close() == ["c0"])
        #expect(pool.connected(slot: 1, "late").closeIt)
        guard case .fail(let error) = pool.lease(now: .uptimeNanoseconds(0), isOpen: { _ in true }, makeAttempt: { 2 }) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(error.code == .poolClosed)
    }

    @Test("backoff doubles up to its maximum and jitters downwards only")
    func backoff() {
        let backoff = ReconnectBackoff(initial: .milliseconds(50), maximum: .seconds(2), jitter: 0.5)
        #expect(backoff.delay(afterFailures: 1, random: 0) == .milliseconds(50))
        #expect(backoff.delay(afterFailures: 2, random: 0) == .milliseconds(100))
        #expect(backoff.delay(afterFailures: 4, random: 0) == .milliseconds(400))
        #expect(backoff.delay(afterFailures: 10, random: 0) == .seconds(2))
        #expect(backoff.delay(afterFailures: 1_000, random: 0) == .seconds(2))
        #expect(backoff.delay(afterFailures: 10, random: 0.999_999) > .seconds(1))
        #expect(backoff.delay(afterFailures: 10, random: 1) == .seconds(1))
    }
}
