import NIOCore

extension RESPConnectionPool {
    /// Which connections the pool holds, which are being opened, and whether it is
    /// backing off after failed attempts.
    ///
    /// A pure value: the pool performs the actions it returns. Generic over the
    /// connection and over what callers wait on while a connection is being opened, so
    /// that tests need neither.
    ///
    /// Callers are spread round-robin over a fixed number of slots; each slot holds at
    /// most one connection, opened on first use and again after it closes. While the
    /// last attempt failed less than the backoff delay ago, a caller landing on an empty
    /// slot fails at once with ``RESPError/Code/backingOff`` instead of waiting.
    struct StateMachine<Connection, Attempt> {
        enum Slot {
            case empty
            case connecting(Attempt)
            case connected(Connection)
        }

        private(set) var slots: [Slot]
        private var nextSlot = 0
        private(set) var consecutiveFailures = 0
        private var retryAt: NIODeadline?
        private var lastFailure: RESPError?
        private(set) var isClosed = false
        let backoff: ReconnectBackoff
        /// "redis at host:port", for messages.
        let peer: String

        init(size: Int, backoff: ReconnectBackoff, peer: String) {
            precondition(size > 0, "a pool needs at least one connection")
            self.slots = Array(repeating: .empty, count: size)
            self.backoff = backoff
            self.peer = peer
        }

        /// The error of requests made after ``close()``.
        var closedError: RESPError {
            RESPError(.poolClosed, "the connection pool for \(self.peer) has been shut down")
        }

        enum LeaseAction {
            /// Use this open connection.
            case use(Connection)
            /// Wait for the connection being opened in this slot.
            case wait(Attempt)
            /// Open a connection for the slot; report with ``connected(slot:_:)`` or ``connectFailed(slot:_:now:random:)``.
            case connect(slot: Int)
            case fail(RESPError)
        }

        /// Picks a connection for one request. `isOpen` says whether a held connection can
        /// still be used; `makeAttempt` is called when the caller is to open one.
        mutating func lease(now: NIODeadline, isOpen: (Connection) -> Bool, makeAttempt: () -> Attempt) -> LeaseAction {
            if self.isClosed {
                return .fail(self.closedError)
            }
            let slot = self.nextSlot
            self.nextSlot = (self.nextSlot + 1) % self.slots.count
            switch self.slots[slot] {
            case .connected(let connection) where isOpen(connection):
                return .use(connection)
            case .connecting(let attempt):
                return .wait(attempt)
            case .connected, .empty:
                if let retryAt = self.retryAt, now < retryAt {
                    let wait = RESPChannelHandler.describe(retryAt - now)
                    let cause = self.lastFailure.map { $0.message } ?? "cannot connect to \(self.peer)"
                    return .fail(RESPError(.backingOff, "\(cause); next attempt in \(wait)", underlying: self.lastFailure))
                }
                self.slots[slot] = .connecting(makeAttempt())
                return .connect(slot: slot)
            }
        }

        /// The attempt for `slot` succeeded. Returns the attempt to complete, and whether the
        /// pool was shut down meanwhile (the connection must then be closed).
        mutating func connected(slot: Int, _ connection: Connection) -> (attempt: Attempt?, closeIt: Bool) {
            let attempt = self.attempt(in: slot)
            self.consecutiveFailures = 0
            self.retryAt = nil
            self.lastFailure = nil
            if self.isClosed {
                return (attempt, true)
            }
            self.slots[slot] = .connected(connection)
            return (attempt, false)
        }

        /// The attempt for `slot` failed at `now`; `random` in 0..<1 jitters the backoff.
        /// Returns the attempt to fail and how long the pool now waits.
        mutating func connectFailed(slot: Int, _ error: RESPError, now: NIODeadline, random: Double) -> (attempt: Attempt?, delay: Duration) {
            let attempt = self.attempt(in: slot)
            self.slots[slot] = .empty
            self.consecutiveFailures += 1
            self.lastFailure = error
            let delay = self.backoff.delay(afterFailures: self.consecutiveFailures, random: random)
            self.retryAt = now + TimeAmount.nanoseconds(Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)
            return (attempt, delay)
        }

        /// A held connection closed; `matches` identifies it among the slots.
        mutating func connectionClosed(where matches: (Connection) -> Bool) {
            for index in self.slots.indices {
                if case .connected(let connection) = self.slots[index], matches(connection) {
                    self.slots[index] = .empty
                }
            }
        }

        /// Shuts the pool: returns the connections to close. Attempts in flight close their
        /// connection when they report.
        mutating func close() -> [Connection] {
            self.isClosed = true
            var open: [Connection] = []
            for index in self.slots.indices {
                if case .connected(let connection) = self.slots[index] {
                    open.append(connection)
                    self.slots[index] = .empty
                }
            }
            return open
        }

        private func attempt(in slot: Int) -> Attempt? {
            if case .connecting(let attempt) = self.slots[slot] {
                return attempt
            }
            return nil
        }
    }
}
